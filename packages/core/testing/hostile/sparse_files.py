limit_mb = 64  # parameter
try:
    with open("huge.bin", "wb") as handle:
        handle.truncate(10 * 2**30)
    print("sparse 10G made")
except OSError as error:
    print("refused", error.strerror)
for index in range(3):
    # Each under the file-size limit, together past the snapshot limit.
    with open("sparse-%d.bin" % index, "wb") as handle:
        handle.truncate(limit_mb * 2**20 - 4096)
print("done")
