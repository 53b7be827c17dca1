import threading, time
started = 0
try:
    while started < 100000:
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        started += 1
    print("unlimited")
except (RuntimeError, MemoryError, OSError):
    print("limited")
