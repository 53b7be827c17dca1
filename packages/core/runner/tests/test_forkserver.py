"""The fork server's mother (forkserver.py): what it takes from a new connection before it forks the execution's
sandbox. The namespaces and mounts themselves need a bubblewrap sandbox: backend-local's fork-server tests."""
import json
import select
import socket
import subprocess
import sys

from code_interpreter_runner.forkserver import hello

from conftest import RUNNER_DIR


def connection_with(data):
    ours, theirs = socket.socketpair()
    theirs.sendall(data)
    return ours, theirs


def test_takes_only_the_first_line_and_leaves_the_request_to_the_runner():
    request = b'{"cwd": "/workspace"}\n' + b"x" * 100000
    ours, theirs = connection_with(json.dumps({"name": "code-exec-1234"}).encode() + b"\n" + request[:60000])
    assert hello(ours) == "code-exec-1234"
    theirs.sendall(request[60000:])
    theirs.close()
    rest = b""
    while True:
        chunk = ours.recv(1 << 16)
        if not chunk:
            break
        rest += chunk
    assert rest == request


def test_refuses_a_name_that_is_not_a_one_shot_sandbox():
    for line in (b'{"name": "code-session-1"}\n', b'{"name": 5}\n', b"not json\n", b'{"other": 1}\n'):
        ours, _ = connection_with(line)
        assert hello(ours) is None


def test_refuses_a_connection_that_ends_before_its_line():
    ours, theirs = connection_with(b'{"name": "code-exec-')
    theirs.close()
    assert hello(ours) is None


MOTHER = """
import os, signal, sys, threading
from code_interpreter_runner import forkserver
forkserver.SOCKET_DIR = sys.argv[1]
forkserver.enter_sandbox = lambda connection, name, config: os._exit(0)  # an execution that ends at once
# A preloaded mother has other threads (OpenBLAS's workers): with SIGCHLD blocked in this one, it lands on that one.
threading.Thread(target=threading.Event().wait, daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
forkserver.mother({})
"""


def test_says_an_execution_exited_when_its_signal_lands_on_another_thread(tmp_path):
    mother = subprocess.Popen(
        [sys.executable, "-c", MOTHER, str(tmp_path)],
        cwd=RUNNER_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        lines = []

        def next_line():
            ready, _, _ = select.select([mother.stdout], [], [], 30)
            assert ready, "the mother said nothing more within 30 s (%r so far)" % lines
            lines.append(mother.stdout.readline().decode().strip())
            return lines[-1]

        assert next_line() == "ready"
        for name in ("code-exec-1", "code-exec-2"):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(str(tmp_path / "mother.sock"))
            client.sendall(json.dumps({"name": name}).encode() + b"\n")
            assert next_line() == "forked " + name
            assert next_line() == "exited " + name
            client.close()
    finally:
        mother.stdin.close()
        assert mother.wait(30) == 0
