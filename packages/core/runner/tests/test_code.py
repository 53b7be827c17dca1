import json
import os
import subprocess
import sys
import types

import pytest

from code_interpreter_runner.code import compile_code, execute, exit_status
from conftest import run_runner, split_frames


@pytest.fixture
def shown(monkeypatch):
    values = []
    monkeypatch.setattr(sys, "displayhook", values.append)
    return values


def run_source(source, show_last=True):
    module = types.ModuleType("__main__")
    return execute(compile_code(source, show_last), module), module


def test_a_bare_last_expression_is_shown_like_the_repl(shown):
    status, module = run_source("x = 6\nx * 7\n")
    assert (status, shown, module.x) == (0, [42], 6)


def test_only_the_last_line_is_shown_and_only_when_asked(shown):
    run_source("1\n2\n")
    run_source("3\n", show_last=False)
    run_source("y = 4\n")
    run_source("if True:\n    5\n")
    assert shown == [2]


def test_a_syntax_error_is_reported_as_python_reports_it():
    with pytest.raises(SyntaxError) as caught:
        compile_code("def broken(:\n", True)
    assert caught.value.filename == "__main__.py"
    assert caught.value.__context__ is None


@pytest.mark.parametrize("code, status", [(None, 0), (3, 3), (256 + 7, 7), (-1, 255)])
def test_exit_statuses_are_the_interpreters(code, status):
    assert exit_status(code) == status


def test_a_message_exit_is_status_one_with_the_message_on_stderr(capsys):
    assert exit_status("bye") == 1
    assert capsys.readouterr().err == "bye\n"


def test_system_exit_in_code_gives_its_status(shown):
    assert run_source("import sys\nsys.exit(4)\n")[0] == 4


def test_run_main_shows_the_last_line_and_names_the_file_main(tmp_path):
    (tmp_path / "__main__.py").write_text("import sys\nprint(__name__, __file__, sys.argv)\n{'a': 1}\n")
    done = run_runner(["--run-main", "__main__.py", "1"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == ["__main__ __main__.py ['__main__.py']", "{'a': 1}"]


def test_run_main_without_show_last_prints_nothing_more(tmp_path):
    (tmp_path / "__main__.py").write_text("1 + 1\n")
    done = run_runner(["--run-main", "__main__.py", "0"], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, b"")


def test_a_traceback_holds_the_codes_frames_only_and_goes_to_the_results_pipe(tmp_path):
    (tmp_path / "__main__.py").write_text("def inner():\n    raise ValueError('boom')\n\ninner()\n")
    read_end, write_end = os.pipe()
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(__file__)))
    done = subprocess.run(
        [sys.executable, "-m", "code_interpreter_runner", "--run-main", "__main__.py", "1", "--results-fd", str(write_end)],
        cwd=tmp_path, env=env, capture_output=True, pass_fds=(write_end,), timeout=60,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as results:
        frames = split_frames(results.read())
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert stderr.startswith("Traceback (most recent call last):\n  File \"__main__.py\", line 4, in <module>\n")
    assert "code_interpreter_runner" not in stderr
    assert stderr.endswith("ValueError: boom\n")
    assert [kind for kind, _ in frames] == [b"r"]
    assert json.loads(frames[0][1]) == {"name": "ValueError", "value": "boom", "traceback": stderr}
