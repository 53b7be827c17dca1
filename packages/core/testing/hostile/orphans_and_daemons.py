import os, subprocess
# The suite sets the marker (HOSTILE_MARKER), the argv[0] of what this leaves running.
marker = "code-interpreter-hostile-stray"  # parameter
STRAY = ["bash", "-c", "exec -a %s sleep 300" % marker]
if os.fork() == 0:
    os._exit(0)  # never reaped by us: a zombie until we exit
subprocess.Popen(STRAY)  # an orphan once we exit, holding our stdout
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("bash", STRAY)
    os._exit(0)
print("left them", flush=True)
