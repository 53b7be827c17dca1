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
        import resource

        shield(False)
        if new_session:
            os.setsid()
        for which, value in pairs:
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    return apply


def shield(on):
    """Ignores the SHIELDED signals (on) or gives them their defaults back."""
    for name in SHIELDED:
        number = getattr(signal, name, None)
        if number is None:
            continue
        if on:
            signal.signal(number, signal.SIG_IGN)
        else:
            signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)


def set_dumpable(value):
    """Same uid as the user's code: not dumpable keeps us out of its /proc/<pid>/fd."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, value, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass
