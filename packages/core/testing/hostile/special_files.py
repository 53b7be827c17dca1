import os, socket
open("real.txt", "w").write("real")
os.symlink("/etc/passwd", "passwd-link")
os.symlink("/", "root-link")
os.symlink("real.txt", "inside-link")
open("hard-a.txt", "w").write("linked")
os.link("hard-a.txt", "hard-b.txt")
os.mkfifo("fifo")
unix = socket.socket(socket.AF_UNIX)
unix.bind("socket")
try:
    os.mknod("device", 0o600 | 0o020000, os.makedev(1, 3))
except OSError:
    pass
os.makedirs("dir")
os.symlink("/etc", "dir/etc-link")
print("planted")
