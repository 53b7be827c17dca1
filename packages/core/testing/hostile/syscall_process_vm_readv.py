from syscall_numbers import call, ctypes, os  # inlined
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]
buffer = ctypes.create_string_buffer(16)
local = iovec(ctypes.cast(buffer, ctypes.c_void_p), 16)
remote = iovec(ctypes.c_void_p(0x400000), 16)
call("process_vm_readv", ctypes.c_long(os.getppid()), ctypes.byref(local), ctypes.c_ulong(1), ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))
