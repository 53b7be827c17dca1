import os, time
# The suite sets the marker (HOSTILE_MARKER), the argv[0] of what this leaves running.
marker = "code-interpreter-hostile-stray"  # parameter
STRAY = ["bash", "-c", "exec -a %s sleep 300" % marker]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execvp("bash", STRAY)
    os._exit(0)
os.wait()
# Until the daemon is running, so it has really outlived its parents when the cell ends.
def running():
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            if marker.encode() in open("/proc/%s/cmdline" % pid, "rb").read():
                return True
        except OSError:
            pass
for _ in range(200):
    if running():
        break
    time.sleep(0.05)
print("daemonised")
