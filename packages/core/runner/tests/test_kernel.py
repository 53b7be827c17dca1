import json
import os
import subprocess
import sys

import pytest

from code_interpreter_runner.kernel import Pump
from code_interpreter_runner.wire import read_exact
from conftest import RUNNER_DIR


class Kernel:
    """A kernel process (`--kernel`) and the frames of each answer."""

    def __init__(self, cwd):
        env = dict(os.environ, PYTHONPATH=RUNNER_DIR, PYTHONDONTWRITEBYTECODE="1")
        argv = [sys.executable, "-m", "code_interpreter_runner", "--kernel", json.dumps({"open_files": 256}), "marker"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd, env=env)
        self.cwd = str(cwd)

    def cell(self, code, timeout_ms=20000, stdin=b""):
        header = {"cwd": self.cwd, "cell": {"code": code, "show_last": True}, "timeout_ms": timeout_ms, "max_output_bytes": 1 << 20, "stdin_bytes": len(stdin)}
        self.proc.stdin.write(json.dumps(header).encode() + b"\n" + stdin)
        self.proc.stdin.flush()
        frames = []
        while not frames or frames[-1][0] != b"x":
            head = read_exact(self.proc.stdout, 5)
            frames.append((head[:1], read_exact(self.proc.stdout, int.from_bytes(head[1:], "big"))))
        result = json.loads(frames[-1][1])
        result["stdout"] = b"".join(p for k, p in frames if k == b"o").decode()
        result["stderr"] = b"".join(p for k, p in frames if k == b"e").decode()
        result["results"] = [json.loads(p) for k, p in frames if k == b"d"]
        return result

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(30)


@pytest.fixture
def kernel(tmp_path):
    started = Kernel(tmp_path)
    yield started
    if started.proc.poll() is None:
        started.proc.kill()
        started.proc.wait()


def test_variables_stay_between_cells_and_cells_are_counted(kernel):
    first = kernel.cell("x = 20\nprint('set')")
    second = kernel.cell("x + 22")
    assert (first["stdout"], first["execution_count"]) == ("set\n", 1)
    assert (second["stdout"], second["execution_count"]) == ("42\n", 2)
    assert second["results"] == [{"is_main_result": True, "data": {"text/plain": "42"}}]
    assert kernel.close() == 0


def test_an_exception_is_reported_and_the_session_goes_on(kernel):
    failed = kernel.cell("def f():\n    raise KeyError('k')\nf()")
    assert failed["exit_code"] == 1
    assert failed["exception"]["name"] == "KeyError"
    assert failed["stderr"].endswith("KeyError: 'k'\n") and "code_interpreter_runner" not in failed["stderr"]
    assert kernel.cell("input()", stdin=b"typed\n")["stdout"] == "'typed'\n"


def test_a_cell_past_its_timeout_is_interrupted_and_the_variables_stay(kernel):
    kernel.cell("kept = 1")
    interrupted = kernel.cell("import time\nwhile True: time.sleep(0.05)", timeout_ms=300)
    assert (interrupted["exit_code"], interrupted["timed_out"]) == (None, True)
    assert "KeyboardInterrupt" in interrupted["stderr"]
    assert kernel.cell("kept")["stdout"] == "1\n"


def test_os_exit_in_a_cell_sends_its_output_then_ends_the_kernel(kernel):
    ended = kernel.cell("print('last words')\nimport os\nos._exit(3)")
    assert ended["stdout"] == "last words\n"
    assert (ended["exit_code"], ended["restarted"]) == (3, True)
    assert "os._exit(3)" in ended["stderr"]
    assert kernel.proc.wait(30) == 3


def test_a_pump_relays_a_pipe_up_to_its_limit(channel):
    read_end, write_end = os.pipe()
    pump = Pump(channel, read_end, b"o", 5)
    os.write(write_end, b"0123456789")
    os.close(write_end)
    pump.thread.join(10)
    assert (channel.joined(b"o"), pump.truncated) == (b"01234", True)
