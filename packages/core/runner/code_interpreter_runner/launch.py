"""Starting what a request runs: its command as a child process, or, in a
runner that preloaded the data stack, its Python code in a fork of the runner,
which finds those modules already loaded: a fork made before the request came
(ParkedCode), else one made for it (ForkedCode)."""
import os

from .code import fresh_stdio, run_main
from .processes import CAUGHT, limit_setter, rlimit_pairs, set_dumpable, set_rlimits, spawn_limited, unshield
from .wire import encode_frame

# The fds a child of the runner runs the code with: stdin, stdout, stderr, rich results.
CODE_FDS = 4

# Results-pipe frame in which the code's process reports its exit status as it ends (see report_exit).
EXIT_FRAME = b"z"


def run_code(header, apply_limits):
    """In a fork of the runner whose fds 0-3 are the code's own and every other fd is closed: runs the inline code as
    the request says (never returns). Dumpable only now, with nothing of the runner's left open (its channel, its
    request stream), so the code can read its own /proc entries but reach nothing of the runner's through them."""
    code = 1
    pid = os.getpid()
    results = None
    try:
        set_dumpable(1)
        os.chdir(header["cwd"])
        apply_limits()
        os.environ.clear()
        os.environ.update(header.get("env") or {})
        inline = header["inline"]
        results = pipe_identity(3)
        code = run_main(inline["file"], inline.get("show_last", True), fresh=True, results_fd=3)
    finally:
        if os.getpid() == pid:  # not a fork the code made, which ran on to here
            report_exit(code, results)
        os._exit(code)


def pipe_identity(fd):
    """(device, inode) of the pipe at `fd`, or None."""
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def report_exit(status, results):
    """Tells the runner the code's exit status over the results pipe (when fd 3 is still that pipe, `results`), and
    closes the code's fds, so the runner answers now rather than when this process has exited: under gVisor, freeing
    the memory of an interpreter with the data stack loaded holds its exit (and so its pipes' end) back by 5-40 ms.
    The runner still ends this process and everything the code started before it answers."""
    if results is not None and pipe_identity(3) == results:
        try:
            os.set_blocking(3, False)  # a pipe too full to take it: the runner waits for the exit instead
            os.write(3, encode_frame(EXIT_FRAME, b"%d" % status))
        except OSError:
            pass
    os.closerange(0, CODE_FDS)


def take_fds(sources):
    """Makes sources[i] the fd i, closing every other fd (sources may sit anywhere, even on each other's targets)."""
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in sources]  # out of the targets' way first
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(len(sources), 65536)


class CodeProcess:
    """A fork of this runner that runs the code, looking like a Popen (pid, stdin/stdout/stderr, poll, wait)."""

    pid = None
    returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def keep_ends(self, in_w, out_r, err_r):
        self.stdin = os.fdopen(in_w, "wb", 0)
        self.stdout = os.fdopen(out_r, "rb", 0)
        self.stderr = os.fdopen(err_r, "rb", 0)


class ParkedCode(CodeProcess):
    """A fork of this (preloaded) runner made while the sandbox warms up, before any request: forking an interpreter
    with the data stack loaded costs ~130 ms under gVisor's ptrace platform (14 ms on runc), paid here off the request
    path. It waits with only its own pipes open (the code's fds 0-3 and a control pipe, nothing of the server's
    channel) until `release` sends it the request's header, then runs the code as ForkedCode does; `dismiss` ends it
    unused (the request is a command, or there was none)."""

    def __init__(self, prefault=False):
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.results_r, results_w = os.pipe()
        control_r, self.control = os.pipe()
        import gc
        import sys

        sys.stdout.flush()  # nothing of the runner's buffered output may be written from the fork
        # Every page either process writes after the fork is copied then, and under gVisor each copy is a costly
        # fault: the collector's passes over the preloaded objects would write to them all, so they are frozen.
        gc.collect()
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            try:
                if prefault:
                    copy_written_pages()
                take_fds((in_r, out_w, err_w, results_w, control_r))
                # What every request's code needs, done while waiting: only the request's own settings are left.
                unshield()
                fresh_stdio()
                header = read_to_end(CODE_FDS)
                os.close(CODE_FDS)
                if not header:
                    os._exit(0)  # dismissed: no code to run
                import json

                header = json.loads(header)
            except BaseException:
                os._exit(1)
            pairs = rlimit_pairs(header.get("limits"))
            run_code(header, lambda: set_rlimits(pairs))
        for fd in (in_r, out_w, err_w, results_w, control_r):
            os.close(fd)
        self.pid = pid
        self.keep_ends(in_w, out_r, err_r)
        if prefault:
            copy_written_pages()

    def release(self, header):
        """Hands the request to the child, which runs its code; False when the child is no longer there to take it."""
        import json
        import signal

        fields = {key: header.get(key) for key in ("cwd", "env", "limits", "inline")}
        data = json.dumps(fields).encode()
        # A child that died (killed from outside) must not take the runner down with SIGPIPE.
        previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        try:
            while data:
                data = data[os.write(self.control, data) :]
            return True
        except OSError:
            return False
        finally:
            os.close(self.control)
            self.control = None
            signal.signal(signal.SIGPIPE, previous)

    def dismiss(self):
        """Ends the child unused and closes its pipes, so nothing of it stays (idempotent)."""
        import signal

        if self.control is not None:
            os.close(self.control)
            self.control = None
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.wait()
        for stream in (self.stdin, self.stdout, self.stderr):
            stream.close()
        if self.results_r is not None:
            os.close(self.results_r)
            self.results_r = None


def copy_written_pages():
    """Writes one byte of each page of this process's private writable mappings that hold memory, in place, so the
    copy-on-write faults the fork left behind are taken now, before a request, not while answering it. Under gVisor's
    ptrace platform each such fault is a round trip through its kernel: after the parked child's fork, the runner's
    staging and the child's start took 100-450 ms of them (tens of ms once the pages are copied). The cost is
    memory: each process holds its own copy of the pages it would otherwise share (about 25 MB each with the data
    stack). Mappings with no resident memory (smaps `Rss: 0`, e.g. unused thread stacks) are left alone. Each byte
    is rewritten with its own value inside one C call: in the child only this thread exists; in the runner the other
    threads (OpenBLAS's workers) are idle, since nothing has given them work. Best effort: no smaps, nothing done."""
    import ctypes

    page = os.sysconf("SC_PAGE_SIZE")
    regions = []
    current = None
    try:
        # Line by line: a buffer big enough to hold the whole file would be a mapping of its own, listed, then gone.
        with open("/proc/self/smaps") as handle:
            for line in handle:
                fields = line.split()
                if not fields:
                    continue
                if not fields[0].endswith(":"):  # a mapping's first line: range, permissions, offset, device, inode[, path]
                    current = None
                    path = fields[5] if len(fields) > 5 else ""
                    if fields[1].startswith("rw") and fields[1][3:4] == "p" and not path.startswith("[v"):
                        current = tuple(int(bound, 16) for bound in fields[0].split("-"))
                elif fields[0] == "Rss:" and current is not None:
                    if int(fields[1]) > 0:
                        regions.append(current)
                    current = None
    except OSError:
        return
    libc = ctypes.CDLL(None)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    # The C library's memmove, returning nothing: a call allocates no Python object that could free a mapping.
    touch = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)(ctypes.cast(ctypes.memmove, ctypes.c_void_p).value)
    residency = ctypes.create_string_buffer(max([(end - start) // page for start, end in regions] or [1]))
    for start, end in regions:
        addresses = list(range(start, end, page))
        if libc.mincore(start, end - start, residency) != 0:
            continue  # unmapped since smaps was read (memory the interpreter has freed)
        for address in addresses:
            touch(address, address, 1)


def read_to_end(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def park(prefault=False):
    """A ParkedCode for the coming request, or None when no fork can be had now (the request then forks as before).
    With `prefault` (gVisor) both processes take their copy-on-write faults now (copy_written_pages)."""
    try:
        return ParkedCode(prefault)
    except OSError:
        return None


class ForkedCode(CodeProcess):
    """The code run in a fork of this (preloaded) runner made for the request."""

    def __init__(self, header, inline, apply_limits, results_w):
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                take_fds((in_r, out_w, err_w, results_w))
            except BaseException:
                os._exit(1)
            run_code(header, apply_limits)
        os.close(in_r)
        os.close(out_w)
        os.close(err_w)
        self.pid = pid
        self.keep_ends(in_w, out_r, err_r)


def start_request(header, preloaded, parked=None):
    """(process, the read end of its rich results' pipe) for the request, as `start`. With a `parked` child, inline
    code runs in it; a command dismisses it first, so it is gone before the command starts."""
    if parked is not None:
        if preloaded and header.get("inline") and parked.returncode is None and parked.release(header):
            results_r, parked.results_r = parked.results_r, None
            return parked, results_r
        parked.dismiss()
    results_r, results_w = os.pipe()
    try:
        proc = start(header, results_w, preloaded)
    finally:
        os.close(results_w)
    if proc is None:
        os.close(results_r)
        return None, None
    return proc, results_r


def start(header, results_w, preloaded):
    """The request's process (a Popen, or a ForkedCode for inline code in a preloaded runner), with
    `results_w` open in it for rich results; None when its command does not exist in this sandbox."""
    inline = header.get("inline")
    if inline and preloaded:
        return ForkedCode(header, inline, limit_setter(header.get("limits")), results_w)
    import subprocess

    argv = header["argv"]
    if "--run-main" in argv:
        argv = argv + ["--results-fd", str(results_w)]
    options = dict(
        cwd=header["cwd"],
        env=header.get("env") or {},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
        pass_fds=(results_w,),
    )
    try:
        if CAUGHT:
            # The shielded signals are caught, not ignored, so exec gives the command their defaults: no preexec_fn.
            proc = spawn_limited(
                lambda command: subprocess.Popen(command, start_new_session=True, **options),
                argv,
                header.get("limits"),
                options["env"].get("PATH", os.defpath),
            )
            if proc is not None:
                return proc
        return subprocess.Popen(argv, preexec_fn=limit_setter(header.get("limits")), **options)
    except FileNotFoundError:
        # The sandbox lacks the language's interpreter (an image older than the environment declaration).
        return None


def feed_stdin(proc, data):
    """Writes the request's stdin to the process and closes it, in a thread unless there is nothing to write."""
    import threading

    def feed(data):
        try:
            if data:
                proc.stdin.write(data)
        except OSError:
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    if not data:
        feed(b"")  # nothing to write: close it now, with no thread (a fork bomb may leave none to start)
        return
    try:
        threading.Thread(target=feed, args=(data,), daemon=True).start()
    except RuntimeError:
        # No thread to be had (the sandbox is at its process limit): write what the pipe takes now.
        try:
            os.set_blocking(proc.stdin.fileno(), False)
        except OSError:
            pass
        feed(data[: 1 << 16])
