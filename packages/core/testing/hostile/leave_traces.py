# Leaves traces in every shared place it can, then waits to be looked at.
import socket, subprocess, time
tag = "tag"  # parameter
# The suite sets the marker (HOSTILE_MARKER), the argv[0] of what this leaves running.
marker = "code-interpreter-hostile-stray"  # parameter
for path in ["/workspace/trace-" + tag, "/tmp/trace-" + tag, "/dev/shm/trace-" + tag]:
    try:
        open(path, "w").write(tag)
    except OSError:
        pass
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("\0trace-" + tag)
listener.listen(1)
subprocess.Popen(["bash", "-c", "exec -a %s sleep 300" % marker])
print("traces left", flush=True)
time.sleep(20)
