# Writes 1 MiB files until the filesystem says no (many files, so a per-file
# size limit is not what stops it); prints the errno name and whether the
# total stayed within limit_mb.
import errno, os
directory = "/workspace"  # parameter
limit_mb = 64  # parameter
keep = False  # parameter
written = 0
made = []
try:
    while written < limit_mb * 4 * 2**20:
        path = directory + "/fill-%d" % len(made)
        made.append(path)
        with open(path, "wb") as handle:
            handle.write(b"x" * 2**20)
        written += 2**20
    print("unlimited")
except OSError as error:
    print(errno.errorcode.get(error.errno, error.errno), written <= limit_mb * 2**20)
for path in made if not keep else []:
    try:
        os.unlink(path)
    except OSError:
        pass
