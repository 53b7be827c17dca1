import os, signal
names = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGSTOP", "SIGKILL"]
for name in names:
    for pid in (os.getppid(), 1, -1):
        try:
            os.kill(pid, getattr(signal, name))
        except OSError:
            pass
print("still here")
