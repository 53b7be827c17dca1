"""A Python session's kernel: requests one after another on stdin, each
answered as a one-shot runner answers one, with the code ("cell") run in
this process so that its variables, imports and functions stay for the next
request. A cell past its timeout is interrupted (KeyboardInterrupt); one that
will not stop ends the kernel, which says so: the server starts a new one."""
import os
import signal
import sys
import time

from .code import compile_code, execute, fresh_stdio, main_module, report_error
from .processes import REAL_EXIT, become_subreaper, descendants, hung_up, kill_all, limit_setter, reap_orphans, set_dumpable
from .results import RICH
from .wire import Channel, LimitedReader, read_exact
from .workspace import send_files, stage


class Pump:
    """Reads one of the code's output pipes and sends it as frames, up to the limit."""

    def __init__(self, channel, fd, kind, limit):
        import threading

        self.channel, self.fd, self.kind, self.limit = channel, fd, kind, limit
        self.sent = 0
        self.truncated = False
        self.thread = threading.Thread(target=self.pump, daemon=True)
        self.thread.start()

    def pump(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            room = self.limit - self.sent
            if len(chunk) > room:
                self.truncated = True
                chunk = chunk[:room]
            if chunk:
                self.sent += len(chunk)
                self.channel.frame(self.kind, chunk)
        os.close(self.fd)


def kernel(limits):
    """Serves cells until the server ends its input."""
    import json

    set_dumpable(0)
    become_subreaper()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # CPU seconds add up over a session's cells: the timeout bounds each cell instead.
    limit_setter({key: value for key, value in limits.items() if key != "cpu_seconds"}, new_session=False)()
    # The channel to the server moves off fds 0-2, which each cell's stdio takes.
    requests = os.fdopen(os.dup(0), "rb")
    channel = Channel().open(os.fdopen(os.dup(1), "wb"))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    fresh_stdio()
    sys.dont_write_bytecode = True
    module = main_module()
    cells = 0
    while True:
        line = requests.readline()
        if not line:
            return
        header = json.loads(line)
        result = {}
        try:
            if header.get("cwd") and os.getcwd() != header["cwd"]:
                os.chdir(header["cwd"])
                sys.path.insert(0, header["cwd"])
            tar_bytes = int(header.get("tar_bytes", 0))
            if tar_bytes:
                stage(header["cwd"], LimitedReader(requests, tar_bytes))
            stdin_data = read_exact(requests, int(header.get("stdin_bytes", 0)))
            if header.get("cell"):
                cells += 1
                result = run_cell(channel, header, stdin_data, module, devnull, cells, requests.fileno())
        except Exception as error:
            result["error"] = "%s: %s" % (type(error).__name__, error)
        channel.frame(b"x", json.dumps(result).encode())


def end_kernel(pid):
    kill_all(descendants(pid))
    REAL_EXIT(1)


def run_cell(channel, header, stdin_data, module, devnull, number, requests_fd):
    """Runs one cell in this process, its stdio on fresh pipes relayed as frames; returns the result fields."""
    import json
    import threading

    cell = header["cell"]
    limit = int(header.get("max_output_bytes", 1 << 20))
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    for source, target in ((in_r, 0), (out_w, 1), (err_w, 2)):
        os.dup2(source, target)
        os.close(source)
    pumps = [Pump(channel, out_r, b"o", limit), Pump(channel, err_r, b"e", limit)]

    def feed():
        try:
            os.write(in_w, stdin_data)
        except OSError:
            pass
        os.close(in_w)

    threading.Thread(target=feed, daemon=True).start()
    fresh_stdio()
    state = {"done": False, "timed_out": False}
    kernel_pid = os.getpid()

    def exit_after_output(status):
        """os._exit for the cell: what it wrote reaches the server, then its end, then the kernel goes."""
        if os.getpid() != kernel_pid:
            REAL_EXIT(status)  # a child the cell forked: it has no pumps of its own
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        for target in (0, 1, 2):
            os.dup2(devnull, target)
        for pump in pumps:
            pump.thread.join(2)
        note = "\n[the Python session ended: the code called os._exit(%s), so its variables are gone]\n" % status
        channel.frame(b"e", note.encode())
        result = {"exit_code": int(status) & 0xFF, "timed_out": False, "restarted": True, "duration_ms": int((time.monotonic() - started) * 1000)}
        channel.frame(b"x", json.dumps(result).encode())
        REAL_EXIT(status)

    os._exit = exit_after_output
    main_thread = threading.main_thread().ident

    def watchdog():
        if state["done"]:
            return
        state["timed_out"] = True
        signal.pthread_kill(main_thread, signal.SIGINT)
        give_up = time.monotonic() + 2
        while time.monotonic() < give_up:
            time.sleep(0.02)
            if state["done"]:
                return
        # It would not stop: the interpreter goes, and the server starts a new one.
        message = "\n[the Python session was restarted: the code did not stop when interrupted at its timeout, so its variables are gone]\n"
        channel.frame(b"e", message.encode())
        result = {"exit_code": None, "timed_out": True, "restarted": True, "duration_ms": int((time.monotonic() - started) * 1000)}
        channel.frame(b"x", json.dumps(result).encode())
        REAL_EXIT(1)

    def watch():
        """Until the cell is done: at its timeout, the watchdog; if the server hangs up (it never ends a
        kernel's input while it holds it), the kernel ends what the cell started and exits. Between
        cells, the end of input ends the kernel anyway."""
        import select

        poller = select.poll()
        poller.register(requests_fd, 0)
        deadline = started + int(header["timeout_ms"]) / 1000.0  # always sent (encodeRunnerRequest); the server owns every deadline
        while not state["done"]:
            left = deadline - time.monotonic()
            if left <= 0:
                return watchdog()
            events = poller.poll(min(left, 0.5) * 1000)
            if any(hung_up(event) for _fd, event in events):
                end_kernel(kernel_pid)

    timer = threading.Thread(target=watch, daemon=True)
    started = time.monotonic()
    timer.start()
    # Display bundles go to the server as they are made; the exception comes with the result.
    RICH.start(lambda kind, payload: kind == b"d" and channel.frame(kind, payload), number)
    try:
        try:
            code = compile_code(cell["code"], cell.get("show_last", True))
        except SyntaxError as error:
            report_error(error, None)
            status = 1
        else:
            status = execute(code, module)
    except KeyboardInterrupt:
        status = 1  # the interrupt landed between our own statements
    os._exit = REAL_EXIT
    state["done"] = True
    duration_ms = int((time.monotonic() - started) * 1000)
    # Open figures: image/png results, and files as before.
    try:
        RICH.flush_figures(keep_files=True)
    except KeyboardInterrupt:
        pass
    figures, exception = RICH.figure_files, RICH.exception
    RICH.stop()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    # What the cell started and left running goes, so nothing holds its pipes (daemons too: we are their subreaper).
    for _ in range(3):
        kill_all(descendants(os.getpid()))
    reap_orphans()
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    for pump in pumps:
        pump.thread.join(2)
    if figures:
        send_files(channel, figures)
    result = {
        "exit_code": None if state["timed_out"] else status,
        "timed_out": state["timed_out"],
        "duration_ms": duration_ms,
        "stdout_truncated": pumps[0].truncated,
        "stderr_truncated": pumps[1].truncated,
        "execution_count": number,
    }
    if exception is not None:
        result["exception"] = exception
    return result
