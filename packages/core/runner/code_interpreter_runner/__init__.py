"""The in-sandbox runner. It is started inside the sandbox (bubblewrap, a
container or a pod) with its stdin and stdout attached to the server, and
speaks one request per process:

  in:  one JSON header line, then `tar_bytes` of tar (files to stage into the
       workspace), then `stdin_bytes` of stdin for the command
  out: frames of  type(1 byte) + length(4 bytes, big-endian) + payload
         o / e  a chunk of the command's stdout / stderr
         f      a chunk of the workspace snapshot (tar)
         d      a rich result (JSON MIME bundle) the code displayed, as it is made
         x      the JSON result, always the last frame

It runs under the same uid as the code it starts, so it trusts nothing it
reads back from the workspace and hides itself from /proc (not dumpable).

The sandboxes receive it as one source text, `runner.py` beside this package,
which packages/core/scripts/bundle-runner.ts makes from these modules; its
command lines (the five modes) are read in `__main__`.

Modules are imported where they are used: every one costs start-up time.
"""
