import json
import os

from code_interpreter_runner.launch import ForkedCode, feed_stdin, start
from conftest import split_frames


def finish(proc):
    output = proc.stdout.read(), proc.stderr.read()
    return proc.wait(), output


def test_a_command_starts_with_its_environment_and_directory(tmp_path):
    read_end, write_end = os.pipe()
    proc = start({"argv": ["sh", "-c", "pwd; echo $ONLY; cat"], "cwd": str(tmp_path), "env": {"ONLY": "this", "PATH": "/usr/bin:/bin"}}, write_end, False)
    feed_stdin(proc, b"fed\n")
    code, (out, _) = finish(proc)
    os.close(read_end)
    os.close(write_end)
    assert (code, out) == (0, ("%s\nthis\nfed\n" % tmp_path).encode())


def test_a_missing_command_starts_nothing(tmp_path):
    read_end, write_end = os.pipe()
    assert start({"argv": ["no-such-command-anywhere"], "cwd": str(tmp_path)}, write_end, False) is None
    os.close(read_end)
    os.close(write_end)


def test_inline_code_runs_in_a_fork_of_a_preloaded_runner_with_its_results_on_the_pipe(tmp_path):
    (tmp_path / "__main__.py").write_text("import os, sys\nprint(os.environ['ONLY'], input())\nprint('err', file=sys.stderr)\n[1, 2]\n")
    read_end, write_end = os.pipe()
    header = {"argv": ["unused"], "cwd": str(tmp_path), "env": {"ONLY": "env"}, "inline": {"file": "__main__.py", "show_last": True}}
    proc = start(header, write_end, True)
    assert isinstance(proc, ForkedCode)
    os.close(write_end)
    feed_stdin(proc, b"typed\n")
    code, (out, err) = finish(proc)
    with os.fdopen(read_end, "rb") as results:
        frames = split_frames(results.read())
    assert (code, out, err) == (0, b"env typed\n[1, 2]\n", b"err\n")
    # Its exit status comes last, as it ends (launch.report_exit): the runner need not wait for the exit itself.
    assert [(kind, json.loads(payload)) for kind, payload in frames] == [
        (b"d", {"is_main_result": True, "data": {"text/plain": "[1, 2]"}}),
        (b"z", 0),
    ]
