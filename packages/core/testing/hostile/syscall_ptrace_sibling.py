from syscall_numbers import NR, call, ctypes, libc, os, signal, time  # inlined
sleeper = os.fork()
if sleeper == 0:
    time.sleep(30)
    os._exit(0)
tracer = os.fork()
if tracer == 0:
    if call("ptrace", ctypes.c_long(16), ctypes.c_long(sleeper), None, None, label="ptrace(sibling)") >= 0:
        libc.syscall(NR["ptrace"], ctypes.c_long(17), ctypes.c_long(sleeper), None, None)
    os._exit(0)
os.waitpid(tracer, 0)
os.kill(sleeper, signal.SIGKILL)
os.waitpid(sleeper, 0)
