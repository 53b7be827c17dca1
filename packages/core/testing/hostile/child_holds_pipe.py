import subprocess
# The suite sets the marker (HOSTILE_MARKER), the argv[0] of what this leaves running.
marker = "code-interpreter-hostile-stray"  # parameter
STRAY = ["bash", "-c", "exec -a %s sleep 300" % marker]
subprocess.Popen(STRAY, stdout=None, stderr=None)
print("parent done", flush=True)
