megabytes = 512  # parameter
chunks = []
for _ in range(megabytes // 16):
    chunks.append(b"x" * (16 * 2**20))
print("survived", len(chunks) * 16, "MB")
