import os
fds = []
try:
    while len(fds) < 1000000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    print("unlimited")
except OSError:
    print("limited", len(fds) < 100000)
