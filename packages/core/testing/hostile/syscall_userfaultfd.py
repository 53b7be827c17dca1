from syscall_numbers import call, ctypes, os  # inlined
fd = call("userfaultfd", ctypes.c_long(0))
if fd >= 0:
    os.close(fd)
