from syscall_numbers import call, ctypes  # inlined
attr = ctypes.create_string_buffer(128)
call("bpf", ctypes.c_long(0), attr, ctypes.c_long(128))
