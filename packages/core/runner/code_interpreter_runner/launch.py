"""Starting what a request runs: its command as a child process, or, in a
runner that preloaded the data stack, its Python code in a fork of the runner
(ForkedCode), which finds those modules already loaded."""
import os

from .code import run_main
from .processes import limit_setter, set_dumpable


class ForkedCode:
    """The code run in a fork of this (preloaded) runner, looking like a Popen."""

    def __init__(self, header, inline, apply_limits, results_w):
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.dup2(in_r, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                os.dup2(results_w, 3)
                os.closerange(4, 65536)
                set_dumpable(1)
                os.chdir(header["cwd"])
                apply_limits()
                os.environ.clear()
                os.environ.update(header.get("env") or {})
                code = run_main(inline["file"], inline.get("show_last", True), fresh=True, results_fd=3)
            finally:
                os._exit(code)
        os.close(in_r)
        os.close(out_w)
        os.close(err_w)
        self.pid = pid
        self.returncode = None
        self.stdin = os.fdopen(in_w, "wb", 0)
        self.stdout = os.fdopen(out_r, "rb", 0)
        self.stderr = os.fdopen(err_r, "rb", 0)

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
    try:
        return subprocess.Popen(
            argv,
            cwd=header["cwd"],
            env=header.get("env") or {},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=limit_setter(header.get("limits")),
            close_fds=True,
            pass_fds=(results_w,),
        )
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
