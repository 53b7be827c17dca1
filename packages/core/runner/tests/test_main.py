import json
import os
import signal
import subprocess
import sys

from conftest import RUNNER_DIR, run_runner, split_frames


def one_request(args, cwd, argv):
    header = {"argv": argv, "cwd": str(cwd), "env": {"PATH": "/usr/bin:/bin"}, "timeout_ms": 20000, "max_output_bytes": 1 << 20, "tar_bytes": 0, "stdin_bytes": 0}
    done = run_runner(args, stdin=json.dumps(header).encode() + b"\n", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return split_frames(done.stdout)


def test_one_shot_answers_its_one_request_and_exits(tmp_path):
    frames = one_request([], tmp_path, ["echo", "hi"])
    assert b"".join(payload for kind, payload in frames if kind == b"o") == b"hi\n"
    assert json.loads(frames[-1][1])["exit_code"] == 0


def test_preload_says_it_is_ready_first_then_runs_inline_code_in_a_fork(tmp_path):
    (tmp_path / "__main__.py").write_text("import sys\nprint('json' in sys.modules)\n")
    header = {"argv": ["unused"], "inline": {"file": "__main__.py", "show_last": True}, "cwd": str(tmp_path), "env": {}, "timeout_ms": 20000, "max_output_bytes": 1000}
    done = run_runner(["--preload", "json,no_such_module"], stdin=json.dumps(header).encode() + b"\n", cwd=tmp_path)
    frames = split_frames(done.stdout)
    assert frames[0] == (b"r", b"")
    assert b"".join(payload for kind, payload in frames if kind == b"o") == b"True\n"
    assert json.loads(frames[-1][1])["exit_code"] == 0


def test_prefault_copies_the_shared_pages_first_and_still_runs_inline_code_in_the_parked_child(tmp_path):
    # What a warm runner under gVisor does (--prefault): the same answer, its copy-on-write faults taken before ready.
    (tmp_path / "__main__.py").write_text("import sys\nprint('json' in sys.modules, sum(range(10)))\n")
    header = {"argv": ["unused"], "inline": {"file": "__main__.py", "show_last": True}, "cwd": str(tmp_path), "env": {}, "timeout_ms": 20000, "max_output_bytes": 1000}
    done = run_runner(["--preload", "json", "--prefault"], stdin=json.dumps(header).encode() + b"\n", cwd=tmp_path)
    frames = split_frames(done.stdout)
    assert frames[0] == (b"r", b"")
    assert b"".join(payload for kind, payload in frames if kind == b"o") == b"True 45\n"
    assert json.loads(frames[-1][1])["exit_code"] == 0


def test_a_warm_runner_given_up_before_use_exits_quietly(tmp_path):
    done = run_runner(["--preload", "json"], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, b"r\x00\x00\x00\x00")


def test_serve_answers_requests_until_its_input_ends(tmp_path):
    requests = b""
    for word in ("one", "two"):
        header = {"argv": ["echo", word], "cwd": str(tmp_path), "env": {"PATH": "/usr/bin:/bin"}, "timeout_ms": 20000, "max_output_bytes": 1000}
        requests += json.dumps(header).encode() + b"\n"
    done = run_runner(["--serve", "marker"], stdin=requests, cwd=tmp_path)
    frames = split_frames(done.stdout)
    assert [payload for kind, payload in frames if kind == b"o"] == [b"one\n", b"two\n"]
    assert [kind for kind, _ in frames].count(b"x") == 2
    assert done.returncode == 0


def test_serve_starts_each_command_with_its_limits_default_signals_and_own_session_and_outlives_its_signals(tmp_path):
    # Commands start without preexec_fn here (the runner catches the signals it shields itself from): the command
    # must still get the limits, no ignored signal, a session of its own; and a command signalling the runner
    # (its parent) must not end it.
    script = "ulimit -Sn; ulimit -Hn; grep SigIgn /proc/self/status; ps -o sid= -p $$ | tr -d ' '; echo $$; kill -TERM $PPID; kill -HUP $PPID"
    requests = b""
    for argv in (["bash", "-c", script], ["echo", "still here"]):
        header = {"argv": argv, "cwd": str(tmp_path), "env": {"PATH": "/usr/bin:/bin"}, "timeout_ms": 20000, "max_output_bytes": 1000, "limits": {"open_files": 200}}
        requests += json.dumps(header).encode() + b"\n"
    done = run_runner(["--serve", "marker"], stdin=requests, cwd=tmp_path)
    frames = split_frames(done.stdout)
    outputs = [b""]
    for kind, payload in frames:
        if kind == b"o":
            outputs[-1] += payload
        elif kind == b"x":
            outputs.append(b"")
    first, second = outputs[:2]
    soft, hard, ignored, session, pid = first.decode().split("\n")[:5]
    assert (soft, hard, ignored, session) == ("200", "200", "SigIgn:\t0000000000000000", pid)
    assert second == b"still here\n"
    assert [json.loads(payload)["exit_code"] for kind, payload in frames if kind == b"x"] == [0, 0]


def test_serve_ends_a_daemon_a_command_left_on_dev_null_with_the_command(tmp_path):
    # The command's pipes all close as it ends (the daemon holds none): what it left must go all the same.
    marker = "left-by-a-command-%d" % os.getpid()
    # A daemon by the book closes every fd it inherited (rich results' pipe too); the command ends once it has.
    daemon = "setsid python3 -c 'import os, time; os.closerange(0, 1024); time.sleep(300)' %s </dev/null >/dev/null 2>&1 & sleep 1" % marker
    header = {"argv": ["bash", "-c", daemon], "cwd": str(tmp_path), "env": {"PATH": "/usr/bin:/bin"}, "timeout_ms": 20000, "max_output_bytes": 1000}
    done = run_runner(["--serve", "marker"], stdin=json.dumps(header).encode() + b"\n", cwd=tmp_path)
    assert [json.loads(payload)["exit_code"] for kind, payload in split_frames(done.stdout) if kind == b"x"] == [0]
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    for pid in left:
        os.kill(int(pid), signal.SIGKILL)
    assert left == []


def test_the_bundle_runs_the_same_modes(tmp_path):
    with open(RUNNER_DIR + "/runner.py") as handle:
        bundle = handle.read()
    (tmp_path / "__main__.py").write_text("6 * 7\n")
    done = subprocess.run([sys.executable, "-I", "-c", bundle, "--run-main", "__main__.py", "1"], cwd=tmp_path, capture_output=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, b"42\n")
