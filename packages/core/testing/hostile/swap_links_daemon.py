import os
# The suite sets the marker (HOSTILE_MARKER), the argv[0] of the daemon.
marker = "code-interpreter-hostile-stray"  # parameter
swapper = """
import os, time
deadline = time.time() + 60
while time.time() < deadline:
    try:
        os.symlink("/etc/passwd", "swap-link")
        os.replace("swap-link", "swap")
        with open("swap-file", "w") as handle:
            handle.write("regular")
        os.replace("swap-file", "swap")
    except OSError:
        pass
"""
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execvp("python3", [marker, "-c", swapper])
    os._exit(0)
os.wait()
print("swapping")
