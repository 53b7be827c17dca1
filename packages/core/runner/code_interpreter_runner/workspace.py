"""The workspace in and out: files staged from the request's tar, and the
snapshot of what the code left, sent back as tar frames."""
import os
import time

from .wire import FrameWriter

# Bounds the result frame however many files a snapshot leaves out.
MAX_SKIPPED_LISTED = 100


def safe_join(root, name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/"):
        raise ValueError("unsafe path in archive: %r" % name)
    return os.path.join(root, *parts)


def stage(root, reader):
    """Writes the regular files of the tar `reader` (a LimitedReader) under root, following no link."""
    import tarfile

    made = set()  # directories made (or found) already: each costs a stat, a mkdir and a stat again
    with tarfile.open(fileobj=reader, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            target = safe_join(root, member.name)
            parent = os.path.dirname(target)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            source = archive.extractfile(member)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = source.read(1 << 16)
                    if not chunk:
                        break
                    out.write(chunk)
    reader.drain()


def snapshot(channel, root, max_bytes, max_files=10000, skipped=None):
    """Tar of the regular files under root, sent as "f" frames. Links, fifos, sockets, devices and
    names that are not UTF-8 are skipped; nothing is followed. Returns True when max_bytes or
    max_files (which bounds the tar headers the server holds) cut it short; the files left
    out that way go to `skipped` as {path, reason} (at most MAX_SKIPPED_LISTED of them)."""
    import stat
    import tarfile

    writer = FrameWriter(channel)
    total = 0
    files = 0
    cut = False
    skipped = [] if skipped is None else skipped
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        stack = [""]
        while stack:
            relative = stack.pop()
            directory = os.path.join(root, relative) if relative else root
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                name = relative + "/" + entry.name if relative else entry.name
                try:
                    # A name that is not UTF-8 cannot be sent as it is: two would come back as one.
                    entry.name.encode("utf-8")
                    info = entry.stat(follow_symlinks=False)
                except (OSError, UnicodeEncodeError):
                    continue
                if stat.S_ISDIR(info.st_mode):
                    stack.append(name)
                    continue
                if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                    continue
                try:
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError:
                    continue
                with os.fdopen(fd, "rb") as handle:
                    info = os.fstat(fd)
                    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                        continue
                    if total + info.st_size > max_bytes or files >= max_files:
                        cut = True
                        if len(skipped) < MAX_SKIPPED_LISTED:
                            why = "more than %d files" % max_files if files >= max_files else "over %d bytes" % max_bytes
                            skipped.append({"path": name, "reason": "the workspace's files add up to %s" % why})
                        continue
                    total += info.st_size
                    files += 1
                    member = tarfile.TarInfo(name)
                    member.size = info.st_size
                    member.mode = 0o644
                    member.mtime = int(info.st_mtime)
                    archive.addfile(member, handle)
    writer.close()
    return cut


def send_files(channel, files):
    """Sends (name, content) pairs as a tar in "f" frames: a session cell's figures."""
    import io
    import tarfile

    writer = FrameWriter(channel)
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files:
            member = tarfile.TarInfo(name)
            member.size = len(content)
            member.mode = 0o644
            member.mtime = int(time.time())
            archive.addfile(member, io.BytesIO(content))
    writer.close()
