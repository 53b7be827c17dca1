"""The host of a pooled one-shot container (DOCKER_ONESHOT_REUSE): the container's main process, started as
`python3 -I -c <this source> <config JSON>` (nested-host.ts).

It runs one execution at a time, each a one-shot runner in a fresh nested sandbox (bubblewrap: new user, pid,
mount, IPC and UTS namespaces, a fresh /proc with Docker's masks, a fresh /dev and /dev/shm), relays the runner's
stdin and output as frames, and once the sandbox is gone (its pid namespace ends with its init) wipes /workspace
and /tmp before it says so. Any doubt (a process left, a file it cannot remove) ends the host, and so the
container. Its stdin's end (the server gone) kills the sandbox and ends it too.

Frames both ways: a kind byte, a 4-byte big-endian length, the payload.
In: s start (JSON {argv, env}), d runner stdin, h hang up the runner's stdin, k kill the sandbox.
Out: d runner stdout, e runner stderr, z ended (JSON {exit, oom, clean}).
"""
import json
import os
import select
import signal
import struct
import sys
import time

HEADER = struct.Struct(">cI")
CONFIG = json.loads(sys.argv[1])


def sandbox_argv():
    """bubblewrap's arguments: the fresh /proc gets Docker's masks (those this kernel has)."""
    masks = []
    for path in CONFIG["masked"]:
        if os.path.isdir(path):
            masks += ["--tmpfs", path, "--remount-ro", path]
        elif os.path.exists(path):
            masks += ["--ro-bind", "/dev/null", path]
    for path in CONFIG["read_only"]:
        if os.path.exists(path):
            masks += ["--ro-bind", path, path]
    return CONFIG["before"] + masks + CONFIG["after"]


BWRAP = sandbox_argv()
WIPED = ("/workspace", "/tmp")
OUT = 1


def send(kind, payload):
    data = HEADER.pack(kind, len(payload)) + payload
    while data:
        data = data[os.write(OUT, data):]


def oom_kills():
    try:
        with open("/sys/fs/cgroup/memory.events") as handle:
            for line in handle:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reap():
    """Collects every child that has ended (as pid 1 of the container, orphans of the sandbox too); returns its pids."""
    ended = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended[pid] = status


def alone():
    """No process in the container but this one."""
    return [name for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()] == []


def wipe(root, mode):
    """Empties root without following links (directories the code made unreadable are made readable first)."""
    stack = [(root, False)]
    while stack:
        path, emptied = stack.pop()
        if emptied:
            if path != root:
                os.rmdir(path)
            continue
        if path != root or os.lstat(root).st_uid == os.getuid():
            os.chmod(path, 0o700)
        stack.append((path, True))
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, False))
                else:
                    os.unlink(entry.path)
    if os.lstat(root).st_uid == os.getuid():
        # The code may have changed its workspace's mode or extended attributes (not /tmp's: root owns it).
        os.chmod(root, mode)
        for name in os.listxattr(root, follow_symlinks=False):
            os.removexattr(root, name, follow_symlinks=False)
    if os.listdir(root):
        raise OSError("%s is not empty" % root)


def set_dumpable(value):
    import ctypes

    ctypes.CDLL(None).prctl(4, value, 0, 0, 0)  # PR_SET_DUMPABLE


# The modes of the wiped directories as the container started (Docker copies the image's up), restored after each wipe.
MODES = {}


def main():
    for root in WIPED:
        MODES[root] = os.stat(root).st_mode & 0o7777
    set_dumpable(0)  # the code runs as this uid too: its /proc entries stay root's
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(number, signal.SIG_IGN)
    os.set_blocking(0, False)
    inbox = b""
    sandbox = None  # {pid, stdin, stdout, stderr, pending, oom}
    poller = select.poll()
    poller.register(0, select.POLLIN)
    while True:
        events = poller.poll(100 if sandbox else 1000)
        for fd, event in events:
            if fd == 0:
                try:
                    chunk = os.read(0, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    # The server is gone: so is everything here.
                    if sandbox:
                        os.kill(sandbox["pid"], signal.SIGKILL)
                    os._exit(0)
                inbox += chunk
                while len(inbox) >= HEADER.size:
                    kind, size = HEADER.unpack_from(inbox)
                    if len(inbox) < HEADER.size + size:
                        break
                    payload, inbox = inbox[HEADER.size : HEADER.size + size], inbox[HEADER.size + size :]
                    if kind == b"s":
                        if sandbox:
                            os._exit(3)  # a second start while one runs: the server lost track; end it all
                        sandbox = start(json.loads(payload), poller)
                    elif sandbox is None:
                        continue
                    elif kind == b"d" and sandbox["stdin"] is not None:
                        sandbox["pending"] += payload
                        poller.modify(sandbox["stdin"], select.POLLOUT)
                    elif kind == b"h":
                        sandbox["hang_up"] = True
                        if not sandbox["pending"]:
                            close_stdin(sandbox, poller)
                    elif kind == b"k":
                        os.kill(sandbox["pid"], signal.SIGKILL)
            elif sandbox and fd == sandbox["stdin"]:
                if event & (select.POLLERR | select.POLLHUP):
                    sandbox["pending"] = b""
                else:
                    try:
                        written = os.write(fd, sandbox["pending"])
                        sandbox["pending"] = sandbox["pending"][written:]
                    except BlockingIOError:
                        pass
                    except OSError:
                        sandbox["pending"] = b""
                if not sandbox["pending"]:
                    if sandbox.get("hang_up"):
                        close_stdin(sandbox, poller)
                    else:
                        poller.modify(fd, 0)
            elif sandbox and fd in (sandbox["stdout"], sandbox["stderr"]):
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    send(b"d" if fd == sandbox["stdout"] else b"e", chunk)
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    sandbox["stdout" if fd == sandbox["stdout"] else "stderr"] = None
        if sandbox is None:
            reap()
            continue
        ended = reap()
        if sandbox["pid"] in ended:
            sandbox["status"] = ended[sandbox["pid"]]
        if "status" in sandbox and sandbox["stdout"] is None and sandbox["stderr"] is None:
            finish(sandbox, poller)
            sandbox = None


def start(request, poller):
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    oom = oom_kills()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(stdin_r, 0)
            os.dup2(stdout_w, 1)
            os.dup2(stderr_w, 2)
            os.closerange(3, 1 << 16)
            for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
                signal.signal(number, signal.SIG_DFL)
            # The sandbox goes first when memory runs out, not the host (raising it needs no privilege, but
            # /proc/self is ours only while dumpable; exec makes bubblewrap dumpable anyway).
            set_dumpable(1)
            with open("/proc/self/oom_score_adj", "w") as handle:
                handle.write("1000")
            os.execve(BWRAP[0], BWRAP + request["argv"], request["env"])
        except BaseException as error:
            os.write(2, ("code-interpreter: could not start the nested sandbox: %s\n" % error).encode())
        finally:
            os._exit(127)
    for fd in (stdin_r, stdout_w, stderr_w):
        os.close(fd)
    for fd in (stdin_w, stdout_r, stderr_r):
        os.set_blocking(fd, False)
    poller.register(stdout_r, select.POLLIN)
    poller.register(stderr_r, select.POLLIN)
    poller.register(stdin_w, 0)
    return {"pid": pid, "stdin": stdin_w, "stdout": stdout_r, "stderr": stderr_r, "pending": b"", "oom": oom}


def close_stdin(sandbox, poller):
    if sandbox["stdin"] is not None:
        poller.unregister(sandbox["stdin"])
        os.close(sandbox["stdin"])
        sandbox["stdin"] = None


def finish(sandbox, poller):
    close_stdin(sandbox, poller)
    status = sandbox["status"]
    code = os.waitstatus_to_exitcode(status)
    exit_code = 128 - code if code < 0 else code
    # Its pid namespace ended with its init: what was left in it is being killed. Wait for it, then wipe.
    clean = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        reap()
        if alone():
            clean = True
            break
        time.sleep(0.002)
    else:
        left = [name for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]
        sys.stderr.write("code-interpreter: processes left after the nested sandbox ended: %s\n" % " ".join(left))
    if clean:
        try:
            for root in WIPED:
                wipe(root, MODES[root])
        except OSError as error:
            sys.stderr.write("code-interpreter: could not wipe the workspace: %s\n" % error)
            clean = False
    send(b"z", json.dumps({"exit": exit_code, "oom": oom_kills() > sandbox["oom"], "clean": clean}).encode())
    if not clean:
        os._exit(4)


main()
