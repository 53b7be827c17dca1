import json
import os
import socket
import threading
import time

import pytest

from code_interpreter_runner import egress
from conftest import run_runner, split_frames


class UnixServer:
    """The proxy's stand-in: a Unix socket server that answers each connection with `handle(conn)` in a thread."""

    def __init__(self, path, handle):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.handle = handle
        self.connections = 0
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        with conn:
            try:
                self.handle(conn)
            except OSError:
                pass  # the forwarder closed it (its client reset)

    def close(self):
        self.sock.close()


def read_to_end(conn):
    chunks = []
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def upper_after_eof(conn):
    """Reads everything the client sends (until its half close), answers it upper-cased, then closes."""
    conn.sendall(read_to_end(conn).upper())


@pytest.fixture
def forwarder(tmp_path):
    """A forwarder (serve) in a thread on an ephemeral port; yields (port, socket path, start it with a max)."""
    path = str(tmp_path / "proxy.sock")
    stopped = threading.Event()
    threads = []

    def start(max_connections=egress.MAX_CONNECTIONS):
        server = egress.listen(0)
        thread = threading.Thread(target=egress.serve, args=(server, path, max_connections, stopped.is_set), daemon=True)
        thread.start()
        threads.append((thread, server))
        return server.getsockname()[1]

    yield path, start
    stopped.set()
    for thread, server in threads:
        thread.join(5)
        server.close()


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_relays_both_ways_with_the_half_close_passed_on(forwarder):
    path, start = forwarder
    upstream = UnixServer(path, upper_after_eof)
    port = start()
    payload = os.urandom(300_000).hex().encode()  # more than a socket buffer holds, both ways
    with connect(port) as client:
        sender = threading.Thread(target=lambda: (client.sendall(payload), client.shutdown(socket.SHUT_WR)))
        sender.start()
        assert read_to_end(client) == payload.upper()
        sender.join()
    upstream.close()


def test_a_connection_without_the_proxy_is_closed_at_once_and_the_next_one_still_works(forwarder):
    path, start = forwarder
    port = start()
    with connect(port) as client:
        started = time.monotonic()
        try:
            assert client.recv(10) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 5
    upstream = UnixServer(path, upper_after_eof)
    with connect(port) as reset:
        reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # closes with a reset
    with connect(port) as client:
        client.sendall(b"still here")
        client.shutdown(socket.SHUT_WR)
        assert read_to_end(client) == b"STILL HERE"
    upstream.close()


def test_connections_over_its_bound_are_refused_at_once(forwarder):
    path, start = forwarder
    release = threading.Event()
    upstream = UnixServer(path, lambda conn: (conn.sendall(b"hi"), release.wait(10)))
    port = start(max_connections=2)
    held = [connect(port) for _ in range(2)]
    for conn in held:
        assert conn.recv(2) == b"hi"
    with connect(port) as over:
        try:
            assert over.recv(10) == b""
        except ConnectionResetError:
            pass
    release.set()
    for conn in held:
        conn.close()
    upstream.close()


def test_the_runner_starts_it_before_the_request_and_it_ends_with_the_runner(tmp_path):
    path = str(tmp_path / "proxy.sock")
    upstream = UnixServer(path, upper_after_eof)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import socket\n"
        "c = socket.create_connection(('127.0.0.1', %d), timeout=10)\n"
        "c.sendall(b'through the proxy'); c.shutdown(socket.SHUT_WR)\n"
        "print(c.recv(100).decode())\n" % port
    )
    header = {"argv": ["python3", "-c", code], "cwd": str(tmp_path), "env": {"PATH": "/usr/bin:/bin"}, "timeout_ms": 20000, "max_output_bytes": 1000}
    done = run_runner(["--egress", str(port), path], stdin=json.dumps(header).encode() + b"\n", cwd=tmp_path)
    frames = split_frames(done.stdout)
    assert b"".join(payload for kind, payload in frames if kind == b"o") == b"THROUGH THE PROXY\n", done.stderr
    # The runner has exited: its forwarder follows (on a host, without a pid namespace to end it).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            connect(port).close()
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the forwarder still listens after its runner exited")
    upstream.close()


def test_a_tcp_target_gets_the_token_line_first_then_the_client_bytes():
    """Kubernetes: the proxy's TCP listener, where each connection presents the sandbox's token first."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stopped = threading.Event()
    server = egress.listen(0)
    target = ("127.0.0.1", listener.getsockname()[1], b"t0ken\n")
    thread = threading.Thread(target=egress.serve, args=(server, target, 4, stopped.is_set), daemon=True)
    thread.start()
    try:
        with connect(server.getsockname()[1]) as client:
            client.sendall(b"CONNECT x:443 HTTP/1.1\r\n\r\n")
            client.shutdown(socket.SHUT_WR)
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                assert read_to_end(conn) == b"t0ken\nCONNECT x:443 HTTP/1.1\r\n\r\n"
    finally:
        stopped.set()
        thread.join(5)
        server.close()
        listener.close()


def test_the_bundle_holds_the_system_cas_and_the_proxys(tmp_path):
    path = str(tmp_path / "ca-bundle.pem")
    egress.write_bundle(path, "-----BEGIN CERTIFICATE-----\nPROXY\n-----END CERTIFICATE-----\n")
    bundle = open(path).read()
    assert bundle.endswith("-----BEGIN CERTIFICATE-----\nPROXY\n-----END CERTIFICATE-----\n")
    assert bundle.count("BEGIN CERTIFICATE") > 1  # the image's own CAs come first
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
