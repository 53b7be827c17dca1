"""Process control: finding and killing what the code started, rlimits, and
the signals the runner shields itself from."""
import os
import signal

# os._exit itself, taken before a session cell replaces it with one that sends its output first (see kernel).
REAL_EXIT = os._exit

# Signals that would end or stop the runner. It ignores them, so code that
# signals its parent (or pid 1, which the runner is in a one-shot sandbox)
# still gets its answer; the code gets the defaults back.
SHIELDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGTSTP", "SIGTTIN", "SIGTTOU")

# The request's limit names and the rlimits they set.
RLIMITS = {
    "cpu_seconds": "RLIMIT_CPU",
    "address_space_bytes": "RLIMIT_AS",
    "processes": "RLIMIT_NPROC",
    "file_size_bytes": "RLIMIT_FSIZE",
    "open_files": "RLIMIT_NOFILE",
}


def descendants(root_pid):
    """Every process below root_pid, read from /proc."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(name))
        except (OSError, IndexError, ValueError):
            continue
    found, queue = [], [root_pid]
    while queue:
        pid = queue.pop()
        for child in children.get(pid, []):
            found.append(child)
            queue.append(child)
    return found


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def become_subreaper():
    """Orphans of what we start (a daemon's setsid and double fork) become our
    children rather than the container init's, so a command's daemons are
    still found, and ended, with the command. True when it took."""
    try:
        import ctypes

        return ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def reap_orphans():
    """Collects the exit status of the orphans a subreaper killed, so none stays a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_everything(proc, everything, subreaper=False):
    """Ends proc and what it started: with `everything`, every process but us (alone in this pid
    namespace with the code); with `subreaper`, all our descendants (orphans included)."""
    if everything:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        return
    for _ in range(3):
        kill_all([proc.pid] + descendants(os.getpid() if subreaper else proc.pid))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass


def hung_up(event):
    """A poll event on the server's channel (registered with an empty mask, so
    bytes waiting there are left alone) that says its end has closed."""
    import select

    return bool(event & (select.POLLHUP | select.POLLERR | select.POLLNVAL))


def rlimit_pairs(limits):
    """(resource, value) of the request's limits that are set."""
    import resource

    return [(getattr(resource, RLIMITS[key]), int(value)) for key, value in (limits or {}).items() if value is not None and key in RLIMITS]


def limit_setter(limits, new_session=True):
    """What a child runs before the code (preexec_fn): signals back to their defaults, its own session, the limits."""
    pairs = rlimit_pairs(limits)

    def apply():
        unshield(new_session)
        set_rlimits(pairs)

    return apply


def unshield(new_session=True):
    """The signals back to their defaults (SIGPIPE too), and with `new_session` a session of its own: what a child
    does before the code, whatever the request (a parked child does it before the request comes)."""
    shield(False)
    if new_session:
        os.setsid()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def set_rlimits(pairs):
    """Sets each (resource, value) of rlimit_pairs as both soft and hard limit; one that cannot be set is left."""
    import resource

    for which, value in pairs:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass


# Set by shield(True, caught=True): the SHIELDED signals are caught, not ignored, so what the runner execs gets their
# defaults back from exec itself, and a command can start without code of ours in the child (spawn_limited).
CAUGHT = []


def shield(on, caught=False):
    """Ignores the SHIELDED signals (on) or gives them their defaults back. `caught`: catches them with a handler that
    does nothing instead (and SIGXCPU, see spawn_limited), which shields this process alike, but which exec, unlike
    an ignored signal, does not pass on: a child needs no preexec_fn to get the defaults back."""
    names = SHIELDED + ("SIGXCPU",) if caught else SHIELDED
    for name in names:
        number = getattr(signal, name, None)
        if number is None:
            continue
        if on:
            signal.signal(number, _shielded if caught else signal.SIG_IGN)
        else:
            signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
    CAUGHT[:] = [True] if on and caught else []


def _shielded(number, frame):
    pass


# util-linux's prlimit(1), found once: what starts a command under its limits without a fork of this interpreter.
PRLIMIT_OPTIONS = {
    "RLIMIT_CPU": "--cpu",
    "RLIMIT_AS": "--as",
    "RLIMIT_NPROC": "--nproc",
    "RLIMIT_FSIZE": "--fsize",
    "RLIMIT_NOFILE": "--nofile",
}
_prlimit = []


def prlimit_tool():
    """The path of prlimit(1), or None when this system has none."""
    if not _prlimit:
        import shutil

        _prlimit.append(shutil.which("prlimit", path="/usr/bin:/bin:/usr/sbin:/sbin"))
    return _prlimit[0]


def spawn_limited(start, argv, limits, path):
    """The process `start(argv)` starts (a Popen without preexec_fn, in its own session), under the request's limits,
    as limit_setter would give them, without running Python in the child: a fork of this interpreter with
    preexec_fn costs 15-40 ms; the vfork Popen uses without one, a few. The limits, soft and hard, are set by
    prlimit(1), which then execs the command: nothing of the command runs before they hold (setting them from here
    after the start left a window in which the command, or a process it forked, could raise its soft limits up to
    ours). None when that cannot be done here (no prlimit, no vfork allowed at our process count): the caller then
    starts it the slow way. A limit above our hard one is left out, as setrlimit in the child would refuse it.
    FileNotFoundError when the command is not found on `path`, as Popen says it."""
    import resource
    import shutil

    prefix = []
    pairs = rlimit_pairs(limits)
    if pairs:
        tool = prlimit_tool()
        if tool is None:
            return None
        names = {getattr(resource, name): option for name, option in PRLIMIT_OPTIONS.items()}
        for which, value in pairs:
            hard = resource.getrlimit(which)[1]
            if hard == resource.RLIM_INFINITY or value <= hard:
                prefix.append("%s=%d:%d" % (names[which], value, value))
        if prefix:
            # prlimit's own not-found message would hide a missing interpreter behind exit 127.
            if shutil.which(argv[0], path=path) is None:
                raise FileNotFoundError(argv[0])
            prefix = [tool] + prefix + ["--"]
    try:
        return start(prefix + argv)
    except (MemoryError, BlockingIOError, ValueError):
        return None
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise
        return None


# The C library's prctl, looked up once (by the runner, before it forks): a fork calls it without loading anything.
_PRCTL = []


def set_dumpable(value):
    """Same uid as the user's code: not dumpable keeps us out of its /proc/<pid>/fd."""
    try:
        if not _PRCTL:
            import ctypes

            _PRCTL.append(ctypes.CDLL(None).prctl)
        _PRCTL[0](4, value, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass
