import subprocess, threading
for _ in range(8):
    subprocess.run(["true"], check=True)
threads = [threading.Thread(target=lambda: None) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("spawned")
