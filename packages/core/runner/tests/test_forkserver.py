"""The fork server's mother (forkserver.py): what it takes from a new connection before it forks the execution's
sandbox. The namespaces and mounts themselves need a bubblewrap sandbox: backend-local's fork-server tests."""
import json
import os
import socket
import time

from code_interpreter_runner.forkserver import hello, reap


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


def test_an_execution_reaped_before_its_name_was_recorded_is_still_said_to_have_exited(capfd):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    time.sleep(0.2)
    unnamed = reap({})  # what the SIGCHLD handler does between the fork and the name's record
    assert pid in unnamed
    assert reap({"code-exec-1234": pid}, unnamed) == set()
    assert "exited code-exec-1234\n" in capfd.readouterr().out
