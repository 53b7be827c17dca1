from syscall_numbers import call, ctypes  # inlined
call("keyctl", ctypes.c_long(1), b"hostile")
