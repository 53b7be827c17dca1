from syscall_numbers import call, ctypes  # inlined
call("unshare", ctypes.c_ulong(0x10000000 | 0x00020000))
