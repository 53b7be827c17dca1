import os
depth = 1000  # parameter
for _ in range(depth):
    os.mkdir("d")
    os.chdir("d")
open("bottom.txt", "w").write("deep")
print("built")
