from syscall_numbers import call, ctypes  # inlined
call("kexec_load", ctypes.c_ulong(0), ctypes.c_ulong(0), None, ctypes.c_ulong(0))
