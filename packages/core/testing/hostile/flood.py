# Floods one stream with `megabytes` of output: lines, one long line, or binary bytes.
import os
stream = 1  # parameter
kind = "lines"  # parameter
megabytes = 4  # parameter
chunk = {"lines": b"x" * 99 + b"\n", "binary": bytes(range(256)) * 4, "no-newlines": b"y" * 1024}[kind] * 64
total = 0
while total < megabytes * 2**20:
    total += os.write(stream, chunk)
