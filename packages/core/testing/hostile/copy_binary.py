import os
data = open("in/input.bin", "rb").read()
os.makedirs("out", exist_ok=True)
open("out/output.bin", "wb").write(data)
print(len(data))
