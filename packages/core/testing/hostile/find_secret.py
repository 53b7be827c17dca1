# Prints where the secret shows up: the environment, or any /proc/<pid>/environ or cmdline.
import os
secret = "the-secret"  # parameter
secret = secret.encode()
for key, value in os.environ.items():
    if secret in value.encode() or secret in key.encode():
        print("environment", key)
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["1"]:
    for name in ("environ", "cmdline"):
        try:
            if secret in open("/proc/%s/%s" % (pid, name), "rb").read():
                print("proc", pid, name)
        except OSError:
            pass
print("done")
