# Looks for the traces leave_traces.py left; prints what it finds.
import os, socket
tag = "tag"  # parameter
marker = "code-interpreter-hostile-stray"  # parameter
for path in ["/workspace/trace-" + tag, "/tmp/trace-" + tag, "/dev/shm/trace-" + tag]:
    if os.path.exists(path):
        print("file", path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\0trace-" + tag)
    print("socket")
except OSError:
    pass
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        if marker.encode() in open("/proc/%s/cmdline" % pid, "rb").read():
            print("process", pid)
    except OSError:
        pass
print("done")
