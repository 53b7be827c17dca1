from syscall_numbers import NR, ctypes, libc, os, verdict  # inlined
pid = libc.syscall(NR["clone"], ctypes.c_ulong(0x10000000 | 17), None, None, None, None)
if pid == 0:
    os._exit(0)
verdict("clone(CLONE_NEWUSER)", pid)
if pid > 0:
    os.waitpid(pid, 0)
