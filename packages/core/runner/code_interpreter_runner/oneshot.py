"""Answering one request: stage its files, run its command while relaying its
output as frames (the poll loop, with its timeout and the server's hang-up),
take the workspace's snapshot, and send the JSON result last."""
import os
import time

from .launch import CodeProcess, feed_stdin, start_request
from .processes import REAL_EXIT, hung_up, kill_everything
from .results import ResultsReader
from .wire import LimitedReader, read_exact
from .workspace import snapshot, stage


def run(channel, header, stdin_data, preloaded=False, subreaper=False, parked=None):
    """Runs the request's command (or inline code, in the `parked` child when there is one) to its end or its
    timeout; returns the result fields."""
    max_output = int(header.get("max_output_bytes", 1 << 20))
    timeout = header["timeout_ms"] / 1000.0
    kill_all = bool(header.get("kill_all"))
    import select

    started = time.monotonic()
    # Python run by the runner itself sends its rich results back over results_r's pipe.
    proc, results_r = start_request(header, preloaded, parked)
    if proc is None:
        return {"missing_command": header["argv"][0]}
    results = ResultsReader(channel, results_r)
    # Code run in a fork of ours says its exit status as it ends (launch.report_exit): its answer need not wait for
    # the exit itself. A command's exit is waited for.
    reports_exit = isinstance(proc, CodeProcess)

    def ended():
        return (reports_exit and results.exit_status is not None) or proc.poll() is not None

    feed_stdin(proc, stdin_data)
    streams = {proc.stdout.fileno(): (b"o", "stdout"), proc.stderr.fileno(): (b"e", "stderr"), results_r: (b"d", "results")}
    sent = {"stdout": 0, "stderr": 0}
    truncated = {"stdout": False, "stderr": False}
    poller = select.poll()
    for fd in streams:
        os.set_blocking(fd, False)
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    if header.get("watch_input"):
        # The server keeps our stdin open until it has the answer: its end means the server is gone,
        # and no one will read the answer. End the code and exit, so the sandbox stops by itself.
        poller.register(0, 0)
    deadline = started + timeout
    timed_out = False
    drain_until = None
    while streams:
        now = time.monotonic()
        if drain_until is None:
            if ended():
                # The code is done: whatever it left running (daemons,
                # children holding the pipes open) goes with it.
                kill_everything(proc, kill_all, subreaper)
                drain_until = now + 2
            elif now >= deadline:
                timed_out = True
                kill_everything(proc, kill_all, subreaper)
                drain_until = now + 2
        elif now >= drain_until:
            break  # an escaped process still holds a pipe: stop reading it
        wait_ms = 50 if drain_until else max(1, min(50, int((deadline - now) * 1000)))
        for fd, event in poller.poll(wait_ms):
            if fd == 0 and fd not in streams:
                if hung_up(event):
                    kill_everything(proc, kill_all, subreaper)
                    REAL_EXIT(1)
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            kind, name = streams.get(fd, (None, None))
            if kind is None:
                continue
            if not chunk:
                poller.unregister(fd)
                del streams[fd]
                continue
            if fd == results_r:
                results.push(chunk)
                continue
            room = max_output - sent[name]
            if len(chunk) > room:
                truncated[name] = True
                chunk = chunk[:room]
            if chunk:
                sent[name] += len(chunk)
                channel.frame(kind, chunk)
    if drain_until is None:
        # Its pipes all closed before the loop saw it end (as it ended, or it closed them itself): it still gets
        # until its deadline, then what it left (a daemon on /dev/null) goes with it, as when the loop sees the end.
        while not ended() and not timed_out:
            timed_out = time.monotonic() >= deadline
            time.sleep(0.005)
        kill_everything(proc, kill_all, subreaper)
    if reports_exit and results.exit_status is not None and proc.returncode is None:
        code = results.exit_status  # ended by kill_everything now, if it had not exited yet: no need to wait
    else:
        code = proc.wait()
    os.close(results_r)
    duration_ms = int((time.monotonic() - started) * 1000)
    if timed_out:
        exit_code = None
    elif code < 0:
        exit_code = 128 - code
    else:
        exit_code = code
    result = {
        "exit_code": exit_code,
        "timed_out": timed_out,
        "duration_ms": duration_ms,
        "stdout_truncated": truncated["stdout"],
        "stderr_truncated": truncated["stderr"],
    }
    if results.exception is not None:
        result["exception"] = results.exception
    return result


def answer(channel, source, header, preloaded=False, subreaper=False, parked=None):
    """Answers one request read from `source`: stages its files, runs its command (inline code in the `parked`
    child when there is one: launch.ParkedCode), takes its snapshot."""
    import json

    cwd = header["cwd"]
    tar_bytes = int(header.get("tar_bytes", 0))
    result = {}
    try:
        if tar_bytes:
            stage(cwd, LimitedReader(source, tar_bytes))
        stdin_data = read_exact(source, int(header.get("stdin_bytes", 0)))
        script = header.get("script")
        if script:
            fd = os.open(script["path"], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(script["content"].encode("utf-8", "surrogatepass"))
        if header.get("argv"):
            try:
                result = run(channel, header, stdin_data, preloaded, subreaper, parked)
            finally:
                if script:
                    try:
                        os.unlink(script["path"])
                    except OSError:
                        pass
        if header.get("snapshot"):
            channel.hold()  # the snapshot's frames and the result, in as few writes as they fit
            limits = (int(header.get("max_snapshot_bytes", 1 << 30)), int(header.get("max_snapshot_files", 10000)))
            skipped = []
            result["snapshot_truncated"] = snapshot(channel, cwd, *limits, skipped=skipped)
            if skipped:
                result["skipped_files"] = skipped
    except Exception as error:  # reported to the server, which answers with an error
        result["error"] = "%s: %s" % (type(error).__name__, error)
    try:
        channel.frame(b"x", json.dumps(result).encode())
    finally:
        channel.release()
