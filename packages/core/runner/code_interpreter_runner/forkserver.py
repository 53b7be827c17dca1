"""The fork server (`--fork-server CONFIG`): one preloaded interpreter, the "mother", in a bubblewrap sandbox, from
which each one-shot execution is a fresh fork in fresh namespaces of its own.

The mother imports the data stack once, listens on a Unix socket (a host directory bound under its /tmp) and,
for each connection the server opens, reads one line naming the execution (`{"name": ...}`) and forks a child
that becomes that execution's sandbox:

  child    new user, mount, pid, ipc, net, uts and cgroup namespaces (unshare(2)); its own uid mapped to itself; fresh
           size-limited tmpfs /tmp (which hides the socket's directory), /workspace and /dev/shm; a new devpts
           instance; /dev read-only; the hostname the execution's name; then it forks the runner and waits for it
  runner   pid 1 of the new pid namespace: mounts its own /proc (its pid namespace only: not the mother, not a
           sibling), forbids further user namespaces, drops every capability (bounding and ambient sets too),
           sets no_new_privs and loads the sandbox's syscall filter, makes the connection its stdin and stdout,
           and serves the one request as a warm one-shot runner does (`one_shot`, its code in a parked fork)

Siblings and the mother share only what bubblewrap gave the mother read-only (the root filesystem, /dev's device
nodes): every writable place is the execution's own, every process it can see or signal is its own, and its
uid's process count (RLIMIT_NPROC) is counted in its own user namespace. The code never holds a capability: the
runner drops them all before anything of the request's is read.

The server writes `kill NAME` lines on the mother's stdin to end an execution at once; the mother ends when its
stdin does (the server is gone). On its stdout it says `ready` once it listens, `forked NAME` and `exited NAME` as
each execution's outermost process starts and is gone (reaped).
"""
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Where the socket's host directory is bound in the mother: under its /tmp, which every child covers with its own.
SOCKET_DIR = "/tmp/.fork-server"
SOCKET_NAME = "mother.sock"
# What bubblewrap covers read-only in a /proc it mounts; each child's own /proc gets the same.
PROC_COVERS = ("sys", "sysrq-trigger", "irq", "bus")
# What each execution's outer process shows as its command line (`retitle`), with `--hostname NAME` after it: how
# the server's tests find an execution's processes on the host (backend-local's listSandboxProcesses).
FORKED_TITLE = "code-interpreter-forked"
# How long the mother waits for a new connection's first line (the server writes it as it connects).
HELLO_SECONDS = 5

# The C library, typed (libc()): loaded by the mother only, so other runners pay nothing for ctypes.
_LIBC = []


def libc():
    if not _LIBC:
        import ctypes

        library = ctypes.CDLL(None, use_errno=True)
        library.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        library.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        library.unshare.argtypes = [ctypes.c_int]
        library.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        _LIBC.append(library)
    return _LIBC[0]


def check(result, what):
    if result != 0:
        import ctypes

        error = ctypes.get_errno()
        raise OSError(error, "%s: %s" % (what, os.strerror(error)))


def mount(source, target, fstype, flags, data=None):
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    check(libc().mount(encode(source), target.encode(), encode(fstype), flags, encode(data)), "mount %s" % target)


def prctl(option, argument=0):
    check(libc().prctl(option, argument, 0, 0, 0), "prctl %d" % option)


def mother(config):
    """Serves connections until stdin ends: a child per connection (`enter_sandbox`). Preloaded before this."""
    import gc
    import select
    import socket

    from .processes import set_dumpable

    set_dumpable(0)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Every page the children write after their fork is copied: the collector's passes would write to them all.
    gc.collect()
    gc.freeze()
    path = os.path.join(SOCKET_DIR, SOCKET_NAME)
    try:
        os.unlink(path)
    except OSError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    children = {}  # name -> the child's pid
    # Children are reaped here in the loop, woken by a byte on this pipe (the self-pipe trick), never by the select's
    # EINTR alone: a SIGCHLD that lands after Python checked for signals and before select() blocks, or on another
    # thread (a preload's workers), interrupts nothing, and the mother slept on with the execution unreaped, never
    # said to have exited (seen once in CI: a server whose start waited on it for good).
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    say("ready")
    control = b""
    while True:
        readable, _, _ = select.select([listener, 0, wake_read], [], [])
        if wake_read in readable:
            drain(wake_read)
            reap(children)
        if 0 in readable:
            data = os.read(0, 4096)
            if not data:
                break  # the server is gone
            control += data
            while b"\n" in control:
                line, control = control.split(b"\n", 1)
                command, _, name = line.decode(errors="replace").partition(" ")
                if command == "kill" and name in children:
                    try:
                        # The child ends its runner's pid namespace, then itself, once that namespace is empty: when
                        # the mother says it exited, nothing of the execution is left (enter_sandbox).
                        os.kill(children[name], signal.SIGTERM)
                    except OSError:
                        pass
        if listener in readable:
            connection, _ = listener.accept()
            name = hello(connection)
            if name:
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    enter_sandbox(connection, name, config)  # never returns
                children[name] = pid
                say("forked " + name)
            connection.close()
    for pid in children.values():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(0)


def say(line):
    """A line to the server on stdout, unbuffered: `ready`, `forked NAME` once an execution's process is there,
    `exited NAME` once it is gone."""
    data = (line + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def hello(connection):
    """The execution's name from the connection's first line, or None (not a sandbox name, or no line in time)."""
    import json
    import socket
    import time

    connection.settimeout(HELLO_SECONDS)
    deadline = time.monotonic() + HELLO_SECONDS
    try:
        # Peeked, then only the line taken: the request may follow it at once, and is the runner's to read.
        while True:
            seen = connection.recv(4096, socket.MSG_PEEK)
            end = seen.find(b"\n")
            if end >= 0:
                line = connection.recv(end + 1)
                break
            if not seen or len(seen) >= 4096 or time.monotonic() > deadline:
                return None
            time.sleep(0.001)
        name = json.loads(line)["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    connection.settimeout(None)
    if not isinstance(name, str) or not name.startswith("code-exec-") or len(name) > 64:
        return None
    return name


def drain(fd):
    """Empties the non-blocking pipe `fd`."""
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def reap(children):
    """Collects the children that have ended, saying which execution each was."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        name = next((name for name, child in children.items() if child == pid), None)
        if name is not None:
            del children[name]
            say("exited " + name)


def enter_sandbox(connection, name, config):
    """In the mother's fork: fresh namespaces and mounts, then the runner as pid 1 of the new pid namespace."""
    from .processes import set_dumpable

    code = 1
    try:
        mother_pid = os.getppid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        retitle(FORKED_TITLE + "\0--hostname\0" + name)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != mother_pid:
            os._exit(1)  # the mother died before the line above
        uid, gid = os.getuid(), os.getgid()
        # /proc/self of a process that is not dumpable belongs to root: its uid_map could not be written. Nothing
        # that could trace this process sees it (every execution is in a pid namespace of its own); the runner
        # makes itself not dumpable again (start_runner).
        set_dumpable(1)
        namespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWCGROUP
        check(libc().unshare(namespaces), "unshare")
        write("/proc/self/uid_map", "%d %d 1\n" % (uid, uid))
        write("/proc/self/setgroups", "deny")
        write("/proc/self/gid_map", "%d %d 1\n" % (gid, gid))
        make_mounts(config["tmpfs_bytes"])
        check(libc().sethostname(name.encode(), len(name.encode())), "sethostname")
        runner = []
        # Asked to end (the mother's `kill`): the runner, pid 1 of its namespace, goes with everything in it; the wait
        # below returns once that namespace is empty. Before there is a runner, this process just ends.
        signal.signal(signal.SIGTERM, lambda *_: os.kill(runner[0], signal.SIGKILL) if runner else os._exit(1))
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            become_runner(connection, config)  # never returns
        runner.append(pid)
        connection.close()
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status) & 0xFF
    except BaseException as error:
        report(connection, error)
    os._exit(code)


def retitle(title):
    """Writes `title` over this process's command line (its argv's memory, which Python no longer reads), the rest
    zeroed: /proc/PID/cmdline then shows it instead of the mother's (best effort)."""
    import ctypes

    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49)
        data = title.encode()[: end - start - 1]
        ctypes.memmove(start, data + b"\0" * (end - start - len(data)), end - start)
    except (OSError, ValueError, IndexError):
        pass


def make_mounts(tmpfs_bytes):
    """The execution's own writable places (tmpfs /tmp, /workspace, /dev/shm; a devpts instance) over the mother's,
    and /dev read-only (its device nodes stay usable): nothing one execution writes is there for the next."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    size = "size=%d,mode=0755" % tmpfs_bytes
    for target in ("/tmp", "/workspace", "/dev/shm"):
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, size)
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    remount_read_only("/dev")


def remount_read_only(path):
    """Remounts the mount at `path` read-only, keeping its other flags (locked ones must be kept)."""
    flags = os.statvfs(path).f_flag
    kept = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)  # ST_ and MS_ share these three values
    mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def become_runner(connection, config):
    """pid 1 of the new pid namespace: its own /proc, no way to more privileges, then the one request."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        # No user namespace below this one: the code cannot get capabilities back in one of its own.
        write("/proc/sys/user/max_user_namespaces", "0")
        for cover in PROC_COVERS:
            target = "/proc/" + cover
            if os.path.exists(target):
                mount(target, target, None, MS_BIND | MS_REC)
                remount_read_only(target)
        drop_capabilities()
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        if config.get("seccomp"):
            from .syscall_filter import load

            load(config["seccomp"])
        fd = connection.detach()
        os.dup2(fd, 0)
        os.dup2(fd, 1)
        null = os.open("/dev/null", os.O_WRONLY)
        os.dup2(null, 2)
        os.closerange(3, 65536)
        os.chdir("/workspace")
        fresh_randomness()
    except BaseException as error:
        report(connection, error)
        os._exit(1)
    from .__main__ import one_shot

    one_shot(preloaded=True)


def fresh_randomness():
    """Seeds of its own for the generators the mother imported: a fork inherits the mother's state, so without this
    every execution would draw the same numbers (numpy's global generator is not reseeded at fork, unlike `random`'s),
    and one execution could predict another's."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()
    random = sys.modules.get("random")
    if random is not None:
        random.seed()


def drop_capabilities():
    """Every capability gone for good: bounding and ambient sets emptied, then effective, permitted and inheritable."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            last = int(handle.read())
    except (OSError, ValueError):
        last = 63
    for capability in range(last + 1):
        prctl(PR_CAPBSET_DROP, capability)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    import ctypes

    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    check(libc().capset(header, data), "capset")


def write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def report(connection, error):
    """A child that could not become a sandbox says why, as the result frame the server reads (best effort)."""
    import json

    from .wire import encode_frame

    try:
        payload = json.dumps({"error": "the fork server could not start a sandbox: %s: %s" % (type(error).__name__, error)})
        connection.sendall(encode_frame(b"x", payload.encode()))
    except Exception:
        pass
