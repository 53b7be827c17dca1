"""The runner's command lines (the modes), after `python3 [-I] -c <runner>`:

  (none)                      one request on stdin, answered, then exit
  --preload numpy,pandas [--prefault]
                              imports those first, forks the child that will run the
                              request's Python code (header "inline"; launch.ParkedCode),
                              says it is ready, then as above: the code finds them loaded
                              and the fork is paid before the request comes, which is
                              how warm sandboxes serve a request in milliseconds;
                              with --prefault (gVisor) both then copy the pages they
                              share (launch.copy_written_pages) before saying so
  --fork-server CONFIG [--preload numpy,pandas]
                              the fork server (forkserver.py): imports those once, then forks each
                              one-shot execution's sandbox (fresh namespaces, a warm runner) from itself
  --serve MARKER              a session's command runner: requests until stdin ends
  --kernel LIMITS MARKER      a session's Python kernel (kernel.py)
  --run-main FILE 1|0 [--results-fd FD]
                              runs FILE as __main__, showing a bare last expression
                              like the REPL when the flag is 1

Before any mode, `--egress PORT SOCKET` (a sandbox with a way out, issue 22)
starts the egress forwarder (egress.py) on 127.0.0.1:PORT, relaying to the
proxy's Unix socket SOCKET, and waits until it listens.

Any mode may end with `--seccomp SPEC`: the runner first loads that syscall filter on
itself (syscall_filter.py; a session's runners under gVisor, started by exec).
"""
import os
import signal
import sys

from .wire import Channel


# What the one-shot runner reads its request with at a time.
REQUEST_BUFFER_BYTES = 1 << 16


def start_runner(caught=False):
    """What every runner does first: its channel, out of /proc's sight (same uid as the code), and shielded
    (`caught`: by handlers, so commands start without preexec_fn; processes.shield)."""
    from .processes import set_dumpable, shield

    channel = Channel().open()
    set_dumpable(0)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    shield(True, caught=caught)
    return channel


def preload(modules):
    """Imports the modules (and what running code needs) before a request comes: a warm sandbox."""
    for name in modules:
        try:
            __import__(name)
        except Exception:
            pass  # an image without it still serves requests
    # What answering a request and running code need, loaded too: after the parked child's fork, every page
    # written (an import writes many) is copied, which under gVisor costs a fault each.
    for name in ("ast", "base64", "fcntl", "importlib.util", "io", "json", "resource", "select", "stat", "struct", "tarfile", "termios", "threading", "traceback", "types"):
        __import__(name)


def one_shot(preloaded=False, prefault=False):
    """Answers the one request on stdin. Preloaded, the child that will run inline code is forked first (parked),
    and only then is the sandbox said to be ready."""
    import json

    from .launch import park
    from .oneshot import answer

    channel = start_runner()
    parked = None
    if preloaded:
        parked = park(prefault)
        channel.ready()
    try:
        # Read in pipe-sized pieces (sys.stdin's are 4 KiB): the request, the runner's own source in its argv
        # included, is ~100 KiB, and under gVisor each read is a round trip through its kernel.
        source = open(0, "rb", buffering=REQUEST_BUFFER_BYTES, closefd=False)
        line = source.readline()
        if line:  # else a warm sandbox given up before use: nothing to do
            answer(channel, source, json.loads(line), preloaded, parked=parked)
    finally:
        if parked is not None:
            parked.dismiss()  # unused (a command, or no request): it ends before we do
    # The answer is out: skip the interpreter's teardown (~200 ms with the data stack loaded), so the sandbox ends at once.
    channel.flush()
    os._exit(0)


def serve():
    """A session's command runner: requests one after another on stdin, each
    answered as one_shot() answers one, until the server hangs up. Commands start
    as fresh processes (nothing stays between them but the workspace), so the
    session pays for no exec per command."""
    import json

    for name in ("resource", "select", "subprocess"):
        __import__(name)  # what every command needs, loaded before one waits (~10-50 ms)

    from .oneshot import answer
    from .processes import become_subreaper, reap_orphans

    channel = start_runner(caught=True)
    subreaper = become_subreaper()
    source = sys.stdin.buffer
    while True:
        line = source.readline()
        if not line:
            return
        answer(channel, source, json.loads(line), subreaper=subreaper)
        reap_orphans()


def main(argv):
    """Runs the mode argv (sys.argv: argv[0] is "-c" or this file) names."""
    from .syscall_filter import take_filter

    argv = take_filter(argv)  # before anything else, so all the runner does and starts is filtered
    if len(argv) > 3 and argv[1] == "--egress":
        from .egress import start_forwarder

        # Without it the code's proxy settings lead nowhere: its connections are refused, which says so.
        if not start_forwarder(argv[3], int(argv[2])):
            sys.stderr.write("code-interpreter: could not start the egress forwarder on port %s\n" % argv[2])
        argv = argv[:1] + argv[4:]
    if len(argv) > 3 and argv[1] == "--run-main":
        from .code import run_main

        results_fd = int(argv[5]) if len(argv) > 5 and argv[4] == "--results-fd" else None
        sys.exit(run_main(argv[2], argv[3] == "1", results_fd=results_fd))
    if len(argv) > 2 and argv[1] == "--kernel":
        import json

        from .kernel import kernel

        kernel(json.loads(argv[2]))
        sys.exit(0)
    if len(argv) > 1 and argv[1] == "--serve":
        serve()
        sys.exit(0)
    if len(argv) > 2 and argv[1] == "--fork-server":
        import json

        from .forkserver import mother

        preload([name for name in argv[4].split(",") if name] if argv[3:4] == ["--preload"] else [])
        # What each execution's runner runs, loaded once here rather than in every fork.
        for name in ("launch", "oneshot", "code", "results", "workspace", "syscall_filter"):
            __import__(__package__ + "." + name)
        mother(json.loads(argv[2]))
    preloaded = len(argv) > 2 and argv[1] == "--preload"
    if preloaded:
        preload([name for name in argv[2].split(",") if name])
    one_shot(preloaded, prefault=preloaded and argv[3:4] == ["--prefault"])


if __name__ == "__main__":
    main(sys.argv)
