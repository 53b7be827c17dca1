from syscall_numbers import call, ctypes, os  # inlined
params = ctypes.create_string_buffer(120)
fd = call("io_uring_setup", ctypes.c_ulong(4), params)
if fd >= 0:
    os.close(fd)
