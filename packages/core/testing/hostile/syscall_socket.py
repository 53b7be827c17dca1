from syscall_numbers import call, ctypes, os  # inlined
# socket(family, type, 0) through the raw syscall.
label = "socket"  # parameter
family = 40  # parameter
socket_type = 1  # parameter
fd = call("socket", ctypes.c_long(family), ctypes.c_long(socket_type), ctypes.c_long(0), label=label)
if fd >= 0:
    os.close(fd)
