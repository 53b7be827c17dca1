import os, time
print("stalling", flush=True)
reader, writer = os.pipe()
os.read(reader, 1)  # nobody ever writes
time.sleep(60)
