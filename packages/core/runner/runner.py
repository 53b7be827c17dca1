# GENERATED FILE, do not edit: packages/core/scripts/bundle-runner.ts makes it from the
# Python package packages/core/runner/code_interpreter_runner/ (edit that instead).
# Regenerate with `pnpm --filter @code-interpreter/core run bundle:runner` (core's build runs it too);
# a test in core fails while this file is not what the package makes.
#
# The sandboxes receive this one source text (`python3 -c`, or over stdin on Kubernetes):
# it installs each module below from its source, dependencies first, and runs the
# package's __main__ with the command line.
import sys


def _install(name, source):
    module = type(sys)(name)
    package, _, leaf = name.rpartition(".")
    if not package:
        module.__path__ = []  # the package: its modules come from here, never from a disk
        package = name
    module.__package__ = package
    sys.modules[name] = module
    if package != name:
        setattr(sys.modules[package], leaf, module)
    path = name.replace(".", "/") + ("/__init__.py" if package == name else ".py")
    exec(compile(source, path, "exec"), module.__dict__)

_install("code_interpreter_runner", r'''"""The in-sandbox runner. It is started inside the sandbox (bubblewrap, a
container or a pod) with its stdin and stdout attached to the server, and
speaks one request per process:

  in:  one JSON header line, then `tar_bytes` of tar (files to stage into the
       workspace), then `stdin_bytes` of stdin for the command
  out: frames of  type(1 byte) + length(4 bytes, big-endian) + payload
         o / e  a chunk of the command's stdout / stderr
         f      a chunk of the workspace snapshot (tar)
         d      a rich result (JSON MIME bundle) the code displayed, as it is made
         x      the JSON result, always the last frame

It runs under the same uid as the code it starts, so it trusts nothing it
reads back from the workspace and hides itself from /proc (not dumpable).

The sandboxes receive it as one source text, `runner.py` beside this package,
which packages/core/scripts/bundle-runner.ts makes from these modules; its
command lines (the five modes) are read in `__main__`.

Modules are imported where they are used: every one costs start-up time.
"""
''')
_install("code_interpreter_runner.display", r'''"""Rich results, like a notebook's: an object becomes a MIME bundle {mime: data}
read from its _repr_mimebundle_ and _repr_*_ methods as IPython's formatter reads
them, and a simple matplotlib figure also a structured chart. Binary data is
base64. (results.py collects the bundles of a run and sends them.)"""
import sys

MIME_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("text/latex", "_repr_latex_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("image/svg+xml", "_repr_svg_"),
    ("application/json", "_repr_json_"),
    ("application/pdf", "_repr_pdf_"),
)
RICH_MIME = ("text/plain",) + tuple(mime for mime, _ in MIME_METHODS)
BINARY_MIME = ("image/png", "image/jpeg", "application/pdf")


def safe_repr(value):
    try:
        return repr(value)
    except Exception as error:
        return "<%s object (repr failed: %s)>" % (type(value).__name__, error)


def safe_str(value):
    try:
        return str(value)
    except Exception:
        return ""


def mime_bundle(value, shown_figures=None):
    """{mime: data} of an object, from its _repr_mimebundle_ and _repr_*_ methods, as IPython's formatter
    reads them. A matplotlib figure gets its PNG, and its id goes to `shown_figures` (it is not shown again)."""
    import base64
    import json

    data = {}
    if not isinstance(value, type):
        method = getattr(value, "_repr_mimebundle_", None)
        if callable(method):
            try:
                got = method(include=None, exclude=None)
            except TypeError:
                try:
                    got = method()
                except Exception:
                    got = None
            except Exception:
                got = None
            if isinstance(got, tuple):
                got = got[0]
            if isinstance(got, dict):
                data.update(got)
        for mime, name in MIME_METHODS:
            method = getattr(value, name, None)
            if mime in data or not callable(method):
                continue
            try:
                got = method()
            except Exception:
                continue
            if isinstance(got, tuple):
                got = got[0]
            if got is not None:
                data[mime] = got
        figure_type = getattr(sys.modules.get("matplotlib.figure"), "Figure", None)
        if figure_type is not None and isinstance(value, figure_type) and "image/png" not in data:
            data["image/png"] = figure_png(value)
            if shown_figures is not None:
                shown_figures.add(id(value))
    if "text/plain" not in data:
        data["text/plain"] = safe_repr(value)
    bundle = {}
    for mime, item in data.items():
        if mime not in RICH_MIME:
            continue
        if mime in BINARY_MIME:
            if isinstance(item, (bytes, bytearray)):
                item = base64.b64encode(bytes(item)).decode("ascii")
            elif not isinstance(item, str):
                continue
        elif mime == "application/json":
            try:
                json.dumps(item)
            except (TypeError, ValueError):
                continue
        elif isinstance(item, (bytes, bytearray)):
            item = bytes(item).decode("utf-8", "replace")
        elif not isinstance(item, str):
            continue
        bundle[mime] = item
    return bundle


def figure_png(figure):
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_chart(figure):
    """A structured description of a simple plot (one axes of lines, bars, points or a pie), or None."""
    try:
        axes = figure.get_axes()
        if len(axes) != 1:
            return None
        ax = axes[0]
        base = {"title": ax.get_title() or None, "x_label": ax.get_xlabel() or None, "y_label": ax.get_ylabel() or None}
        wedges = [patch for patch in ax.patches if type(patch).__name__ == "Wedge"]
        if wedges:
            labels = [text.get_text() for text in ax.texts]
            sizes = [abs(w.theta2 - w.theta1) / 360.0 for w in wedges]
            return dict(base, type="pie", series=[{"label": None, "labels": labels[: len(wedges)], "values": sizes}])
        bars = [patch for patch in ax.patches if type(patch).__name__ == "Rectangle"]
        if bars and not ax.lines and not ax.collections:
            labels = [tick.get_text() for tick in ax.get_xticklabels()]
            series = [{"label": None, "x": [float(b.get_x() + b.get_width() / 2) for b in bars], "y": [float(b.get_height()) for b in bars]}]
            return dict(base, type="bar", x_tick_labels=labels, series=series)
        if ax.lines and not bars and not ax.collections:
            series = []
            for line in ax.lines:
                label = line.get_label()
                series.append({"label": None if label.startswith("_") else label, "x": [float(v) for v in line.get_xdata()], "y": [float(v) for v in line.get_ydata()]})
            return dict(base, type="line", series=series)
        if ax.collections and not ax.lines and not bars:
            series = []
            for collection in ax.collections:
                offsets = collection.get_offsets()
                label = collection.get_label()
                series.append({"label": None if label.startswith("_") else label, "x": [float(p[0]) for p in offsets], "y": [float(p[1]) for p in offsets]})
            return dict(base, type="scatter", series=series)
    except Exception:
        return None
    return None
''')
_install("code_interpreter_runner.egress", r'''"""The in-sandbox egress forwarder (issue 22): the sandbox has no route out, only
loopback and the egress proxy's Unix socket bound in. The code's proxy settings
point at 127.0.0.1:PORT; this relays each connection made there, both ways, to
the socket, and decides nothing itself (the proxy outside does).

Where no socket can be bound in (a kubernetes pod), the target is
`tcp:HOST:PORT`: the proxy's TCP listener, the only address the pod may reach.
Then the sandbox's token and the proxy's CA come first on stdin, one JSON line
(never in the code's environment or files); each relayed connection starts
with the token, and the CA bundle (the image's CAs and the proxy's) is written
where the code's SSL_CERT_FILE points. Code running as the sandbox user could
still learn its own token (it is not dumpable, but shares the uid): that
grants it only its own policy.

It runs as a process of its own, started before the runner takes a request and
detached from it, so neither a session cell's clean-up nor the code's crash
takes it down; it ends with the sandbox (its pid namespace). The code runs as
the same user and may kill it: it then loses only its own way out.

One thread and a selector: no thread per connection that a fork bomb could
deny it, at most MAX_CONNECTIONS connections (more are refused at once), and a
connection that fails is closed alone."""
import errno
import os
import socket

# Connections relayed at once (each holds two fds); more are closed at once, so the client fails fast.
MAX_CONNECTIONS = 256
# Bytes read at a time, and the most buffered toward one side before reading from the other pauses.
CHUNK_BYTES = 1 << 16
# The write ends of the pipes whose end stops the forwarders this process started.
STARTED = []


class Side:
    """One socket of a relayed connection, and what waits to be written to it."""

    def __init__(self, sock):
        self.sock = sock
        self.pending = b""
        self.ended = False  # it sent EOF: nothing more to read from it
        self.peer_ended = False  # the other side sent EOF: shut this one's writing once `pending` is out
        self.write_closed = False
        self.registered = False


class Relay:
    """A client connection and its connection to the proxy; bytes read from one are written to the other."""

    def __init__(self, client, upstream):
        self.client = Side(client)
        self.upstream = Side(upstream)

    def other(self, side):
        return self.upstream if side is self.client else self.client

    def sides(self):
        return (self.client, self.upstream)

    def done(self):
        return all(side.ended and not side.pending for side in self.sides())


def listen(port, host="127.0.0.1"):
    """The forwarder's listening socket (so a caller knows it listens before the runner takes a request)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(128)
    server.setblocking(False)
    return server


def connect_upstream(path):
    """A connection to the proxy's socket (or, for a (host, port, preamble) target, the start of one to its TCP
    listener), or None when it is not there or will not take one now."""
    if isinstance(path, tuple):
        upstream = socket.socket(socket.AF_INET6 if ":" in path[0] else socket.AF_INET, socket.SOCK_STREAM)
        upstream.setblocking(False)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Completes in the background: the preamble waits to be written, and a refusal closes the client's connection.
        if upstream.connect_ex(path[:2]) not in (0, errno.EINPROGRESS):
            upstream.close()
            return None
        return upstream
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    upstream.setblocking(False)
    try:
        upstream.connect(path)
    except OSError:
        # ENOENT, ECONNREFUSED, EAGAIN (its backlog is full): the client's connection is closed, it fails fast.
        upstream.close()
        return None
    return upstream


def serve(server, socket_path, max_connections=MAX_CONNECTIONS, stop=None, until_closed=None):
    """Relays connections accepted on `server` to `socket_path` until `stop()` is true, or the fd `until_closed`
    (a pipe's read end) reads EOF: every holder of its write end is gone."""
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ, None)
    if until_closed is not None:
        selector.register(until_closed, selectors.EVENT_READ, "end")
    relays = set()

    def interest(relay, side):
        other = relay.other(side)
        events = 0
        # Read while the other side can take it (backpressure), write while something waits.
        if not side.ended and len(other.pending) < CHUNK_BYTES:
            events |= selectors.EVENT_READ
        if side.pending:
            events |= selectors.EVENT_WRITE
        return events

    def update(relay):
        for side in relay.sides():
            events = interest(relay, side)
            try:
                if events and side.registered:
                    selector.modify(side.sock, events, (relay, side))
                elif events:
                    selector.register(side.sock, events, (relay, side))
                    side.registered = True
                elif side.registered:
                    selector.unregister(side.sock)
                    side.registered = False
            except (OSError, ValueError):
                close(relay)
                return
        if relay.done():
            close(relay)

    def close(relay):
        if relay not in relays:
            return
        relays.discard(relay)
        for side in relay.sides():
            if side.registered:
                try:
                    selector.unregister(side.sock)
                except (KeyError, ValueError, OSError):
                    pass
                side.registered = False
            side.sock.close()

    def accept():
        try:
            client, _ = server.accept()
        except OSError:
            return  # EAGAIN, or out of fds: try again on the next event
        if len(relays) >= max_connections:
            client.close()
            return
        upstream = connect_upstream(socket_path)
        if upstream is None:
            client.close()
            return
        client.setblocking(False)
        relay = Relay(client, upstream)
        if isinstance(socket_path, tuple):
            relay.upstream.pending = socket_path[2]  # the token line, before anything of the client's
        relays.add(relay)
        update(relay)

    def readable(relay, side):
        other = relay.other(side)
        try:
            data = side.sock.recv(CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            close(relay)
            return
        if data:
            other.pending += data
            return
        # EOF from this side: once what waits is written, the other side gets it as a half close.
        side.ended = True
        other.peer_ended = True
        if not other.pending:
            shut(other)

    def shut(side):
        if not side.write_closed:
            side.write_closed = True
            try:
                side.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def writable(relay, side):
        try:
            sent = side.sock.send(side.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            close(relay)
            return
        side.pending = side.pending[sent:]
        if not side.pending and side.peer_ended:
            shut(side)

    while stop is None or not stop():
        try:
            events = selector.select(0.5 if stop else None)
        except InterruptedError:
            continue
        if any(key.data == "end" for key, _ in events):
            break
        for key, mask in events:
            if key.data is None:
                accept()
                continue
            relay, side = key.data
            if relay not in relays:
                continue
            try:
                if mask & selectors.EVENT_WRITE:
                    writable(relay, side)
                if relay in relays and mask & selectors.EVENT_READ:
                    readable(relay, side)
                if relay in relays:
                    update(relay)
            except Exception:
                close(relay)  # whatever went wrong, it costs this connection only
    for relay in list(relays):
        close(relay)
    selector.close()


def read_settings_line(limit=1 << 16):
    """One line from fd 0, read a byte at a time so nothing after it (the runner's request) is taken."""
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        byte = os.read(0, 1)
        if not byte:
            break
        line += byte
    return line


def write_bundle(path, ca):
    """The image's CA certificates and the proxy's, at `path` (replaced whole, so a reader never sees half)."""
    system = b""
    for candidate in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"):
        try:
            with open(candidate, "rb") as handle:
                system = handle.read()
            break
        except OSError:
            continue
    partial = "%s.%d" % (path, os.getpid())
    with open(partial, "wb") as handle:
        handle.write(system.rstrip(b"\n") + b"\n" + ca.encode("ascii").strip() + b"\n")
    os.chmod(partial, 0o644)
    os.replace(partial, path)


def hide_command_line():
    """Replaces this process's command line (the runner's, with its kill marker) by `egress-forwarder`: killing a
    session's kernel or command runner by its marker must not take the pod's way out with it."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49)
        name = b"egress-forwarder"
        if end - start <= len(name):
            return
        with open("/proc/self/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            memory.write(name + b"\0" * (end - start - len(name)))
    except (OSError, ValueError, IndexError):
        pass  # a kernel without it (gVisor may refuse): the forwarder keeps the runner's command line


def start_tcp_forwarder(target, port):
    """`tcp:HOST:PORT`: reads the token and the CA from stdin, writes the bundle, and starts a forwarder that lives
    as long as the pod (a session's kernel and command runner share it: whichever comes second finds the port
    taken, and that is fine)."""
    import json

    host, _, target_port = target[len("tcp:"):].rpartition(":")
    try:
        settings = json.loads(read_settings_line())
        token = settings["token"]
        write_bundle(settings["bundle"], settings["ca"])
        server = listen(port)
    except OSError as error:
        return error.errno == errno.EADDRINUSE
    except (ValueError, KeyError, TypeError):
        return False
    upstream = (host.strip("[]"), int(target_port), token.encode("ascii") + b"\n")

    def run():
        hide_command_line()
        try:
            import ctypes

            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE: its memory (the token) is not the uid's to read
        except Exception:
            pass
        serve(server, upstream)

    return daemonize(server, (server.fileno(),), run)


def start_forwarder(socket_path, port):
    """Starts the forwarder as a process of its own (a double fork, so it is nobody's child but the sandbox's init)
    and returns once it listens; False, and no forwarder, when it could not (the port is taken, no fork). It ends
    when the caller (and whatever inherited the caller's end of a pipe) has exited, or with the sandbox.
    A `tcp:HOST:PORT` target is the proxy's TCP listener (see start_tcp_forwarder)."""
    if socket_path.startswith("tcp:"):
        return start_tcp_forwarder(socket_path, port)
    try:
        server = listen(port)
    except OSError:
        return False
    try:
        alive_r, alive_w = os.pipe()  # not inherited across exec: the code's commands do not hold it
    except OSError:
        server.close()
        return False
    started = daemonize(server, (server.fileno(), alive_r), lambda: serve(server, socket_path, until_closed=alive_r))
    os.close(alive_r)
    if started:
        STARTED.append(alive_w)  # held until this process ends
    else:
        os.close(alive_w)
    return started


def daemonize(server, keep, run):
    """Runs `run` in a process of its own (a double fork, so it is nobody's child but the sandbox's init) with only
    the `keep` descriptors open (nothing of the runner's: its request stream, its answer channel), and returns
    whether it started; the listening `server` is closed here either way."""
    try:
        pid = os.fork()
    except OSError:
        server.close()
        return False
    if pid == 0:
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            null = os.open(os.devnull, os.O_RDWR)
            for target in (0, 1, 2):
                os.dup2(null, target)
            previous = 2
            for descriptor in sorted(keep):
                os.closerange(previous + 1, descriptor)
                previous = descriptor
            os.closerange(previous + 1, 65536)
            run()
        finally:
            os._exit(0)
    server.close()
    while True:
        try:
            os.waitpid(pid, 0)  # the middle process, gone at once: the forwarder is already the init's
            break
        except InterruptedError:
            continue
        except OSError as error:
            if error.errno == errno.ECHILD:
                break
            raise
    return True
''')
_install("code_interpreter_runner.forkserver", r'''"""The fork server (`--fork-server CONFIG`): one preloaded interpreter, the "mother", in a bubblewrap sandbox, from
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
''')
_install("code_interpreter_runner.processes", r'''"""Process control: finding and killing what the code started, rlimits, and
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
''')
_install("code_interpreter_runner.syscall_filter", r'''"""The sandbox's syscall filter, loaded by the runner on itself (`--seccomp`).

A process started by exec into a gVisor container (runsc 20221219) does not get
the container's seccomp profile, which runsc applies to the container's first
process only; so a session's command runner and kernel, started that way, load
the same policy themselves before they serve, and everything they start
inherits it. The server sends the policy's classic BPF program for each
architecture core knows (`x86_64=<base64>,aarch64=<base64>`, from core's
`seccompBpf`); the runner loads the one for the machine it runs on.
"""
import os

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
ARGUMENT = "--seccomp"


def programs(spec):
    """{machine: BPF program bytes} from `x86_64=<base64>,aarch64=<base64>`."""
    import base64

    found = {}
    for item in spec.split(","):
        machine, _, program = item.partition("=")
        found[machine] = base64.b64decode(program)
    return found


def load(spec):
    """Loads the filter for this machine on this process (and so on all it starts); raises OSError when it cannot,
    and the runner then stops rather than serve unfiltered."""
    import ctypes

    machine = os.uname().machine
    program = programs(spec).get(machine)
    if program is None or len(program) % 8:
        raise OSError("no syscall filter for this sandbox's architecture (%s)" % machine)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    # Without privileges a filter needs no_new_privs (the sandbox has it set already; this makes sure).
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0 or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, "cannot load the syscall filter: %s" % os.strerror(error))


def take_filter(argv):
    """argv without a trailing `--seccomp SPEC`, after loading that filter on this process (argv unchanged without)."""
    if len(argv) > 2 and argv[-2] == ARGUMENT:
        load(argv[-1])
        return argv[:-2]
    return argv
''')
_install("code_interpreter_runner.wire", r'''"""The framing of what the runner sends (one type byte, a big-endian uint32
length, the payload) and exact reads of what it is sent."""
import struct
import sys

HEADER_BYTES = 5

# The most a Channel holds back between `hold` and `release`.
HOLD_BYTES = 1 << 20


def encode_frame(kind, payload):
    """One frame: `kind` (one byte) and the payload's length before it."""
    return kind + struct.pack(">I", len(payload)) + payload


def frame_header(pending):
    """(kind, length) of the frame at the start of `pending`, or None while its header is incomplete."""
    if len(pending) < HEADER_BYTES:
        return None
    (length,) = struct.unpack(">I", pending[1:HEADER_BYTES])
    return pending[:1], length


class Channel:
    """The runner's answer stream to the server. Frames are written whole,
    under a lock once `open` has made one (threads share the stream)."""

    def __init__(self, out=None):
        self.out = sys.stdout.buffer if out is None else out
        self.lock = None
        self.held = None

    def open(self, out=None):
        """Ready to send from several threads; `out` moves the stream elsewhere (a kernel's copy of fd 1)."""
        import threading

        self.lock = threading.Lock()
        if out is not None:
            self.out = out
        return self

    def frame(self, kind, payload):
        with self.lock:
            if self.held is None:
                self.out.write(encode_frame(kind, payload))
                self.out.flush()
                return
            self.held += encode_frame(kind, payload)
            if len(self.held) >= HOLD_BYTES:
                self.send_held()

    def hold(self):
        """Frames from now on wait (up to HOLD_BYTES of them) until `release`, and then go out in one write: a
        snapshot's frames and the result, once the code has ended (under gVisor each write is a round trip)."""
        with self.lock:
            if self.held is None:
                self.held = bytearray()

    def release(self):
        """Sends the frames held since `hold`, and sends each frame at once again."""
        with self.lock:
            if self.held is not None:
                self.send_held()
                self.held = None

    def send_held(self):
        if self.held:
            self.out.write(self.held)
            self.out.flush()
            self.held = bytearray()

    def ready(self):
        """Tells the server a warm sandbox is ready: an empty "r" frame, only ever first (see RunnerChannel)."""
        self.out.write(encode_frame(b"r", b""))
        self.out.flush()

    def flush(self):
        self.out.flush()


class FrameWriter:
    """A file-like object (for tarfile) that sends what is written as frames of `kind`, 64 KiB each."""

    def __init__(self, channel, kind=b"f", size=1 << 16):
        self.channel, self.kind, self.size = channel, kind, size
        self.buffer = bytearray()

    def write(self, data):
        self.buffer += data
        while len(self.buffer) >= self.size:
            self.channel.frame(self.kind, bytes(self.buffer[: self.size]))
            del self.buffer[: self.size]
        return len(data)

    def close(self):
        if self.buffer:
            self.channel.frame(self.kind, bytes(self.buffer))
            self.buffer = bytearray()


def read_exact(stream, size):
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("request ended early")
        data += chunk
    return data


class LimitedReader:
    """Reads exactly `size` bytes of the request stream, no more."""

    def __init__(self, stream, size):
        self.stream = stream
        self.remaining = size

    def read(self, size=-1):
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self.stream.read(size) if size else b""
        if size and not data:
            raise EOFError("request ended early")
        self.remaining -= len(data)
        return data

    def drain(self):
        """Reads what is left, so the next request starts where it should."""
        while self.remaining:
            self.read(1 << 16)
''')
_install("code_interpreter_runner.results", r'''"""The rich results of the run in progress: objects shown with display(), the
value of a bare last expression (is_main_result) and open matplotlib figures
become bundles {is_main_result, data: {mime: value}, chart?}, in display
order, and an exception becomes {name, value, traceback}. The code's stdout
stays as it was. Code run in its own process sends them to the runner over a
pipe (`pipe_sender`), read there by a ResultsReader."""
import os
import sys
import time

from .display import RICH_MIME, figure_chart, figure_png, mime_bundle, safe_repr, safe_str
from .wire import encode_frame, frame_header

# One bundle must fit a frame (the server reads at most 16 MiB): larger data is left out.
MAX_BUNDLE_BYTES = 12 << 20
# Bounds what one run can send however often it calls display().
MAX_RESULTS = 200
MAX_RESULTS_BYTES = 48 << 20


class RichResults:
    """The display machinery of the run in progress: bundles go to `send` as they are made."""

    def __init__(self):
        self.send = None
        self.count = 0
        self.bytes = 0
        self.shown_figures = set()
        self.figure_files = []
        self.exception = None
        self.installed = False
        self.number = 0

    def start(self, send, number=0):
        self.send, self.count, self.bytes, self.number = send, 0, 0, number
        self.shown_figures, self.figure_files, self.exception = set(), [], None
        self.install()

    def stop(self):
        self.send = None

    def show(self, value, main=False, chart=None):
        if self.send is None or self.count >= MAX_RESULTS:
            return
        try:
            data = mime_bundle(value, self.shown_figures)
        except Exception as error:
            data = {"text/plain": "<display failed: %s>" % error}
        self.emit(data, main, chart)

    def emit(self, data, main=False, chart=None):
        import json

        settle_output()

        result = {"is_main_result": bool(main), "data": data}
        if chart:
            result["chart"] = chart
        try:
            payload = json.dumps(result).encode()
        except (TypeError, ValueError):
            payload = json.dumps({"is_main_result": bool(main), "data": {"text/plain": data.get("text/plain", "")}}).encode()
        if len(payload) > MAX_BUNDLE_BYTES:
            note = "%s\n[left out: this result's data is over %d bytes]" % (data.get("text/plain", ""), MAX_BUNDLE_BYTES)
            payload = json.dumps({"is_main_result": bool(main), "data": {"text/plain": note}}).encode()
        if self.bytes + len(payload) > MAX_RESULTS_BYTES:
            return
        self.count += 1
        self.bytes += len(payload)
        self.send(b"d", payload)

    def error(self, error, text):
        self.exception = {"name": type(error).__name__, "value": safe_str(error), "traceback": text}
        if self.send is not None:
            import json

            self.send(b"r", json.dumps(self.exception).encode())

    def flush_figures(self, keep_files=False):
        """Open figures become image/png results (and, in a session, files), then closed, as a notebook shows them."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None or self.send is None:
            return
        try:
            for num in pyplot.get_fignums():
                figure = pyplot.figure(num)
                png = figure_png(figure)
                if keep_files:
                    self.figure_files.append(("figure-%d-%d.png" % (self.number, len(self.figure_files) + 1), png))
                if id(figure) not in self.shown_figures:
                    import base64

                    data = {"text/plain": safe_repr(figure), "image/png": base64.b64encode(png).decode("ascii")}
                    self.emit(data, chart=figure_chart(figure))
            pyplot.close("all")
        except Exception as error:
            print("could not save the figures: %s" % error, file=sys.stderr)

    def install(self):
        """display() as a builtin, the REPL's displayhook, and IPython's display() and pyplot.show() routed here."""
        if self.installed:
            return
        import builtins

        self.installed = True
        builtins.display = display
        sys.displayhook = displayhook
        patches = {"IPython.core.display_functions": patch_ipython, "matplotlib.pyplot": patch_pyplot}
        for name, patch in patches.items():
            if name in sys.modules:
                patch(sys.modules[name])
        sys.meta_path.insert(0, AfterImport(patches))


def settle_output(*fds):
    """Lets what the code printed (and `fds`) reach the runner before what it makes next, so
    output and results arrive in the order they were made (bounded: output nobody reads is not waited for)."""
    import fcntl
    import struct
    import termios

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    waited = 0
    pending = bytearray(4)
    while waited < 50:
        try:
            busy = 0
            for fd in (1, 2) + fds:
                fcntl.ioctl(fd, termios.FIONREAD, pending)
                busy += struct.unpack("i", bytes(pending))[0]
        except OSError:
            return
        if not busy:
            break
        time.sleep(0.002)
        waited += 1
    time.sleep(0.001)  # the reader between taking the bytes and framing them


# The one collector: display(), the displayhook and the patched pyplot.show() are handed to the code and find it here.
RICH = RichResults()


def display(*objects, **options):
    """IPython's display(), notebook style: each object becomes a result. `raw=True` takes objects as {mime: data}."""
    raw = options.get("raw", False)
    for value in objects:
        if raw and isinstance(value, dict):
            RICH.emit({mime: data for mime, data in value.items() if mime in RICH_MIME})
        else:
            RICH.show(value)


def displayhook(value):
    """The REPL's: the repr to stdout as before, and the value as the main result."""
    if value is None:
        return
    sys.__displayhook__(value)
    RICH.show(value, main=True)


def patch_ipython(module):
    module.display = display


def patch_pyplot(module):
    original = module.show

    def show(*args, **kwargs):
        if RICH.send is None:
            return original(*args, **kwargs)
        RICH.flush_figures(keep_files=RICH.number > 0)

    module.show = show


class AfterImport:
    """Patches a module right after it is first imported (IPython's display, pyplot's show), so importing neither costs a run anything."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        patch = self.patches.get(name)
        if patch is None:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def run(module):
            exec_module(module)
            try:
                patch(module)
            except Exception:
                pass

        spec.loader.exec_module = run
        return spec


def pipe_sender(fd):
    """Sends results from the code's process to the runner over a pipe, framed like the runner's own output."""

    def send(kind, payload):
        data = encode_frame(kind, payload)
        while data:
            try:
                written = os.write(fd, data)
            except OSError:
                return
            data = data[written:]
        settle_output(fd)

    return send


class ResultsReader:
    """Reads the code's results pipe: display bundles go on to the server as they come, the exception is kept.
    The code could write anything there, so sizes are bounded and what does not parse is dropped."""

    def __init__(self, channel, fd):
        self.channel = channel
        self.fd = fd
        self.pending = b""
        self.exception = None
        self.sent = 0
        self.broken = False
        # The exit status the code's process reported as it ended ("z", launch.report_exit), or None.
        self.exit_status = None

    def push(self, chunk):
        import json

        if self.broken:
            return
        self.pending += chunk
        while True:
            header = frame_header(self.pending)
            if header is None:
                return
            kind, length = header
            if kind not in (b"d", b"r", b"z") or length > MAX_BUNDLE_BYTES + (1 << 16):
                self.broken, self.pending = True, b""
                return
            if len(self.pending) < 5 + length:
                return
            payload = self.pending[5 : 5 + length]
            self.pending = self.pending[5 + length :]
            if kind == b"z":
                if length <= 3 and payload.isdigit() and int(payload) <= 255:
                    self.exit_status = int(payload)
            elif kind == b"r":
                try:
                    self.exception = json.loads(payload)
                except ValueError:
                    pass
            elif self.sent + len(payload) <= MAX_RESULTS_BYTES:
                self.sent += len(payload)
                self.channel.frame(b"d", payload)
''')
_install("code_interpreter_runner.code", r'''"""Running the user's Python code as `python3 __main__.py` would, named
__main__.py, with a bare last expression shown like the REPL shows it
(last-line-interactive), its rich results collected, and its traceback free
of the runner's frames."""
import os
import sys

from .results import RICH, pipe_sender


# The pid that made its stdio fresh (a parked child does it before the request comes; its forks have their own).
FRESH_STDIO = []


def fresh_stdio():
    """sys.stdin/stdout/stderr on fds 0-2 as `python3 -u` makes them:
    unbuffered, so output streams as it happens."""
    import io

    FRESH_STDIO[:] = [os.getpid()]
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
    )


def compile_code(source, show_last, name="__main__.py"):
    """Compiles code as `name`; with show_last a bare last expression goes to
    sys.displayhook like in the REPL. Raises SyntaxError as Python reports it."""
    import ast

    try:
        tree = ast.parse(source, name)
    except (SyntaxError, ValueError):
        tree = None
    if tree is None:
        # Outside the except clause: the error Python reports carries no context with our frames.
        return compile(source, name, "exec")
    if show_last and tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        show = ast.Attribute(ast.Call(ast.Name("__import__", ast.Load()), [ast.Constant("sys")], []), "displayhook", ast.Load())
        tree.body[-1] = ast.copy_location(ast.Expr(ast.Call(show, [last.value], [])), last)
        ast.fix_missing_locations(tree)
    return compile(tree, name, "exec")


def main_module():
    """A fresh __main__ for the code (the runner's own names stay out of its sight)."""
    import types

    module = types.ModuleType("__main__")
    module.__file__ = "__main__.py"
    sys.modules["__main__"] = module
    sys.argv = ["__main__.py"]
    return module


def execute(code, module):
    """Runs compiled code in the module; returns its exit status. Tracebacks
    leave this function out."""
    try:
        exec(code, module.__dict__)
    except SystemExit as error:
        return exit_status(error.code)
    except BaseException as error:
        report_error(error, error.__traceback__.tb_next)
        return 1
    return 0


def report_error(error, tb):
    """Prints the traceback as Python would and hands {name, value, traceback} to the rich results."""
    import traceback

    text = "".join(traceback.format_exception(type(error), error, tb))
    sys.stderr.write(text)
    RICH.error(error, text)


def run_main(path, show_last, fresh=False, results_fd=None):
    """Runs the file like `python3 __main__.py` would, named __main__.py.
    Returns the exit code. Rich results go to `results_fd` when given;
    `fresh` is for a fork of the runner: new stdio, and the interpreter's exit done by hand."""
    if results_fd is not None:
        RICH.start(pipe_sender(results_fd))
    if fresh:
        if FRESH_STDIO != [os.getpid()]:
            fresh_stdio()
        sys.path.insert(0, os.getcwd())
        sys.dont_write_bytecode = True
    with open(path, "rb") as handle:
        source = handle.read()
    try:
        code = compile_code(source, show_last)
    except SyntaxError as error:
        report_error(error, None)
        return 1
    status = execute(code, main_module())
    RICH.flush_figures()
    return finish(status) if fresh else status


def exit_status(code):
    """The exit status SystemExit(code) gives, as the interpreter computes it (a message goes to stderr)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def finish(status):
    """What the interpreter does on the way out, for code run in a fork."""
    try:
        import threading

        threading._shutdown()
        import atexit

        atexit._run_exitfuncs()
    except SystemExit as error:
        status = exit_status(error.code)
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return status
''')
_install("code_interpreter_runner.launch", r'''"""Starting what a request runs: its command as a child process, or, in a
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
''')
_install("code_interpreter_runner.workspace", r'''"""The workspace in and out: files staged from the request's tar, and the
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
''')
_install("code_interpreter_runner.kernel", r'''"""A Python session's kernel: requests one after another on stdin, each
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
''')
_install("code_interpreter_runner.oneshot", r'''"""Answering one request: stage its files, run its command while relaying its
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
''')
_install("code_interpreter_runner.__main__", r'''"""The runner's command lines (the modes), after `python3 [-I] -c <runner>`:

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
''')
sys.modules["code_interpreter_runner.__main__"].main(sys.argv)
