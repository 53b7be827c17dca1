# Makes empty files until the filesystem runs out of inodes, or gives up after `most`.
import errno, os
directory = "/workspace"  # parameter
most = 100000  # parameter
os.makedirs(directory + "/inodes", exist_ok=True)
made = 0
try:
    while made < most:
        os.close(os.open(directory + "/inodes/%d" % made, os.O_CREAT | os.O_WRONLY, 0o644))
        made += 1
    print("unlimited")
except OSError as error:
    print(errno.errorcode.get(error.errno, error.errno))
