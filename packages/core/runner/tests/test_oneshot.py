import io
import json
import tarfile
import time

from code_interpreter_runner.oneshot import answer
from test_workspace import tar_of


def request(channel, cwd, argv=None, files=(), stdin=b"", **fields):
    archive = tar_of(files) if files else b""
    header = dict({"argv": argv, "cwd": str(cwd), "env": {"PATH": "/usr/bin:/bin"}, "timeout_ms": 20000, "max_output_bytes": 1 << 20, "tar_bytes": len(archive), "stdin_bytes": len(stdin)}, **fields)
    answer(channel, io.BytesIO(archive + stdin), header)
    kinds = [kind for kind, _ in channel.frames()]
    assert kinds[-1] == b"x" and kinds.count(b"x") == 1
    return json.loads(channel.frames(b"x")[0][1])


def test_a_command_gets_its_files_and_stdin_and_its_output_comes_back_in_frames(channel, tmp_path):
    result = request(channel, tmp_path, ["sh", "-c", "cat input.txt; cat; echo oops >&2; exit 3"], files=[("input.txt", b"staged\n")], stdin=b"from stdin\n")
    assert channel.joined(b"o") == b"staged\nfrom stdin\n"
    assert channel.joined(b"e") == b"oops\n"
    assert result["exit_code"] == 3
    assert (result["timed_out"], result["stdout_truncated"], result["stderr_truncated"]) == (False, False, False)


def test_output_past_the_limit_is_cut_and_said_to_be(channel, tmp_path):
    result = request(channel, tmp_path, ["sh", "-c", "head -c 100000 /dev/zero"], max_output_bytes=1000)
    assert len(channel.joined(b"o")) == 1000
    assert result["stdout_truncated"]


def test_a_command_past_its_timeout_is_killed_with_what_it_started(channel, tmp_path):
    result = request(channel, tmp_path, ["sh", "-c", "echo started; sleep 300 & sleep 300"], timeout_ms=500)
    assert channel.joined(b"o") == b"started\n"
    assert (result["exit_code"], result["timed_out"]) == (None, True)


def test_a_command_that_closes_its_output_still_gets_its_timeout(channel, tmp_path):
    # With every pipe closed (rich results' too) the output loop ends early; the command must still end by its deadline, not hang the runner.
    started = time.monotonic()
    result = request(channel, tmp_path, ["python3", "-c", "import os, time; os.closerange(0, 1024); time.sleep(30)"], timeout_ms=500)
    assert (result["exit_code"], result["timed_out"]) == (None, True)
    assert time.monotonic() - started < 20


def test_a_signal_death_is_128_plus_the_signal(channel, tmp_path):
    assert request(channel, tmp_path, ["sh", "-c", "kill -9 $$"])["exit_code"] == 137


def test_a_missing_command_is_named(channel, tmp_path):
    assert request(channel, tmp_path, ["no-such-interpreter-here"]) == {"missing_command": "no-such-interpreter-here"}


def test_the_snapshot_follows_the_output_and_a_script_is_gone_after(channel, tmp_path):
    script = {"path": str(tmp_path / "script.sh"), "content": "echo made > made.txt\n"}
    result = request(channel, tmp_path / "ws", ["sh", str(tmp_path / "script.sh")], files=[("in.txt", b"in")], script=script, snapshot=True)
    with tarfile.open(fileobj=io.BytesIO(channel.joined(b"f")), mode="r|") as archive:
        assert sorted(member.name for member in archive) == ["in.txt", "made.txt"]
    assert result["snapshot_truncated"] is False
    assert not (tmp_path / "script.sh").exists()


def test_a_bad_request_is_an_error_in_the_result(channel, tmp_path):
    result = request(channel, tmp_path, None, files=[("../escape", b"x")])
    assert result == {"error": "ValueError: unsafe path in archive: '../escape'"}
