from syscall_numbers import NR, call, ctypes, libc, os  # inlined
# PTRACE_ATTACH (16) to the target; detaches again if it was let through.
label = "ptrace"  # parameter
target = "parent"  # parameter: "parent" (the runner) or "init" (pid 1)
pid = os.getppid() if target == "parent" else 1
if call("ptrace", ctypes.c_long(16), ctypes.c_long(pid), None, None, label=label) >= 0:
    libc.syscall(NR["ptrace"], ctypes.c_long(17), ctypes.c_long(pid), None, None)
