from syscall_numbers import call, ctypes  # inlined
call("mount", b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None)
