"""The parked child of a preloaded runner (launch.ParkedCode): forked before the request comes, it
holds nothing of the runner's while it waits, runs inline code as a fork made for the request
would, and is gone before a command runs."""
import io
import json
import os
import signal
import time

from code_interpreter_runner.launch import ForkedCode, ParkedCode, park, start_request
from code_interpreter_runner.oneshot import answer
from conftest import RecordingChannel

# Prints the fds open in the code (0-255), its pid, environment and directory.
PROBE = """import os
open_fds = []
for fd in range(256):
    try:
        os.fstat(fd)
        open_fds.append(fd)
    except OSError:
        pass
print(open_fds, os.getpid(), dict(os.environ), os.getcwd())
"""


def inline_header(cwd, source, **fields):
    (cwd / "__main__.py").write_text(source)
    header = {"argv": ["unused"], "inline": {"file": "__main__.py", "show_last": True}, "cwd": str(cwd), "env": {"ONLY": "this"}}
    header.update({"timeout_ms": 20000, "max_output_bytes": 1 << 20, "tar_bytes": 0, "stdin_bytes": 0}, **fields)
    return header


def answered(header, parked, stdin=b""):
    """(the result without its duration, stdout, stderr, rich results) of the request, answered as a warm runner does."""
    channel = RecordingChannel()
    answer(channel, io.BytesIO(stdin), dict(header, stdin_bytes=len(stdin)), True, parked=parked)
    result = json.loads(channel.frames(b"x")[0][1])
    result.pop("duration_ms", None)
    return result, channel.joined(b"o"), channel.joined(b"e"), channel.frames(b"d")


def gone(pid):
    return not os.path.exists("/proc/%d" % pid)


def test_a_parked_child_waits_holding_only_its_own_pipes():
    parked = park()
    try:
        for _ in range(200):  # until it has closed what it inherited (it runs on its own, right after the fork)
            fds = sorted(int(name) for name in os.listdir("/proc/%d/fd" % parked.pid))
            if len(fds) <= 5:
                break
            time.sleep(0.05)
        assert fds == [0, 1, 2, 3, 4]
        # Its stdio are its own pipes, none of the runner's (the server's channel is the runner's stdin and stdout).
        ours = {os.readlink("/proc/self/fd/%d" % fd) for fd in (0, 1, 2)}
        theirs = {os.readlink("/proc/%d/fd/%d" % (parked.pid, fd)) for fd in fds}
        assert not ours & theirs
        assert all(name.startswith("pipe:") for name in theirs)
    finally:
        parked.dismiss()
    assert gone(parked.pid)


def test_inline_code_runs_in_the_parked_child_with_only_the_code_fds_open(tmp_path):
    parked = park()
    result, out, err, _ = answered(inline_header(tmp_path, PROBE), parked)
    assert (result, err) == ({"exit_code": 0, "timed_out": False, "stdout_truncated": False, "stderr_truncated": False}, b"")
    assert out.decode() == "[0, 1, 2, 3] %d {'ONLY': 'this'} %s\n" % (parked.pid, tmp_path)
    # The answer does not wait for the child's exit (it said its status as it ended, launch.report_exit, and was
    # killed before the answer): the runner reaps it once it has answered, as one_shot does with dismiss().
    parked.dismiss()
    assert gone(parked.pid)


def test_the_parked_child_answers_as_a_fork_made_for_the_request(tmp_path):
    source = "import sys\nprint('out', input())\nprint('err', file=sys.stderr)\nraise SystemExit(3)\n"
    parked_answer = answered(inline_header(tmp_path, source), park(), stdin=b"typed\n")
    forked_answer = answered(inline_header(tmp_path, source), None, stdin=b"typed\n")
    assert parked_answer == forked_answer
    assert parked_answer[:3] == ({"exit_code": 3, "timed_out": False, "stdout_truncated": False, "stderr_truncated": False}, b"out typed\n", b"err\n")
    shown = answered(inline_header(tmp_path, "[1, 2]\n"), park())
    assert [json.loads(payload) for _, payload in shown[3]] == [{"is_main_result": True, "data": {"text/plain": "[1, 2]"}}]


def test_a_fork_the_code_makes_does_not_answer_for_it(tmp_path):
    # The fork runs on to the end of the code too, and ends first: only the code's own process says its exit status.
    source = "import os, time\nif os.fork() == 0:\n    raise SystemExit(5)\ntime.sleep(0.5)\nraise SystemExit(2)\n"
    parked = park()
    result, _, _, _ = answered(inline_header(tmp_path, source), parked)
    parked.dismiss()
    assert result["exit_code"] == 2


def test_a_command_request_ends_the_parked_child_before_the_command_runs(tmp_path):
    parked = park()
    script = "test -e /proc/%d && echo parked child alive || echo parked child gone" % parked.pid
    header = {"argv": ["sh", "-c", script], "cwd": str(tmp_path), "env": {"PATH": "/usr/bin:/bin"}, "timeout_ms": 20000}
    result, out, _, _ = answered(header, parked)
    assert (result["exit_code"], out) == (0, b"parked child gone\n")
    assert gone(parked.pid)


def test_inline_code_past_its_timeout_is_killed_in_the_parked_child(tmp_path):
    parked = park()
    source = "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\nprint('started', flush=True)\ntime.sleep(300)\n"
    result, out, _, _ = answered(inline_header(tmp_path, source, timeout_ms=1000, env={"PATH": "/usr/bin:/bin"}), parked)
    assert (result["exit_code"], result["timed_out"], out) == (None, True, b"started\n")
    assert gone(parked.pid)


def test_a_parked_child_killed_from_outside_gives_way_to_a_fork_made_for_the_request(tmp_path):
    parked = park()
    os.kill(parked.pid, signal.SIGKILL)
    # Killed means gone by the time the request comes: SIGKILL lands asynchronously, and until the child is a zombie
    # its end of the pipe is open (on a loaded machine the runner's write could still reach it).
    for _ in range(1000):
        with open("/proc/%d/stat" % parked.pid) as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    proc, results_r = start_request(inline_header(tmp_path, "print(6 * 7)\n"), True, parked)
    assert isinstance(proc, ForkedCode)
    proc.stdin.close()
    assert (proc.stdout.read(), proc.wait()) == (b"42\n", 0)
    os.close(results_r)
    assert gone(parked.pid)


def test_a_parked_child_ends_when_the_runner_goes_without_a_request():
    parked = ParkedCode()
    os.close(parked.control)  # what the runner's exit does to its end of the control pipe
    parked.control = None
    assert parked.wait() == 0


# Inside a pid namespace (bubblewrap), where kill_all may end every process but the runner.
KILL_ALL = r"""
import io, json, os, tempfile, time
from code_interpreter_runner.launch import park
from code_interpreter_runner.oneshot import answer
from code_interpreter_runner.wire import Channel

cwd = tempfile.mkdtemp()
with open(os.path.join(cwd, "__main__.py"), "w") as handle:
    handle.write("import os, subprocess, time\nif os.fork() == 0:\n    os.setsid()\n    subprocess.Popen(['sleep', '300'])\n    time.sleep(300)\ntime.sleep(300)\n")
header = {"argv": ["unused"], "inline": {"file": "__main__.py"}, "cwd": cwd, "env": {"PATH": "/usr/bin:/bin"}, "timeout_ms": 1000, "kill_all": True}
parked = park()
out = io.BytesIO()
answer(Channel(out).open(), io.BytesIO(b""), header, True, parked=parked)
parked.dismiss()
def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
def others():
    return [pid for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()) if pid not in (1, os.getpid()) and alive(pid)]
waited = 0
while others() and waited < 100:  # a killed process may still be on its way out
    time.sleep(0.05)
    waited += 1
left = others()
print(json.dumps({"timed_out": b'"timed_out": true' in out.getvalue(), "left": left}))
"""


def test_kill_all_ends_the_parked_childs_code_and_everything_it_started(sandbox_python):
    assert json.loads(sandbox_python(KILL_ALL)) == {"timed_out": True, "left": []}
