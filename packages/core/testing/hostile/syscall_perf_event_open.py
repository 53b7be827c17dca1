from syscall_numbers import call, ctypes, os  # inlined
attr = ctypes.create_string_buffer(128)
ctypes.memmove(attr, (ctypes.c_uint32 * 2)(1, 128), 8)
fd = call("perf_event_open", attr, ctypes.c_long(0), ctypes.c_long(-1), ctypes.c_long(-1), ctypes.c_ulong(0))
if fd >= 0:
    os.close(fd)
