"""The in-sandbox egress forwarder (issue 22): the sandbox has no route out, only
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
