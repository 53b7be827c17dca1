import io
import os
import tarfile

import pytest

from code_interpreter_runner.wire import LimitedReader
from code_interpreter_runner.workspace import MAX_SKIPPED_LISTED, safe_join, send_files, snapshot, stage

ODD_NAMES = ["plain.txt", "with space.csv", "ünïcødé/数据.txt", "deep/er/still/file", "-dash", "semi;colon'quote\"", "new\nline"]


def tar_of(entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in entries:
            member = tarfile.TarInfo(name)
            if content is None:
                member.type = tarfile.SYMTYPE
                member.linkname = "/etc/passwd"
                archive.addfile(member)
            else:
                member.size = len(content)
                archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def stage_bytes(root, data, trailing=b""):
    stream = io.BytesIO(data + trailing)
    stage(str(root), LimitedReader(stream, len(data)))
    return stream.read()


def test_staging_writes_files_with_odd_names_and_leaves_the_next_request_alone(tmp_path):
    entries = [(name, name.encode() * 3) for name in ODD_NAMES]
    assert stage_bytes(tmp_path, tar_of(entries), b"NEXT") == b"NEXT"
    for name, content in entries:
        assert (tmp_path / name).read_bytes() == content


def test_staging_skips_links_and_follows_none(tmp_path):
    (tmp_path / "target").write_text("mine")
    os.symlink(tmp_path / "target", tmp_path / "link")
    stage_bytes(tmp_path, tar_of([("evil", None), ("ok", b"fine")]))
    assert not os.path.lexists(tmp_path / "evil")
    assert (tmp_path / "ok").read_bytes() == b"fine"
    with pytest.raises(OSError):
        stage_bytes(tmp_path, tar_of([("link", b"overwrite")]))
    assert (tmp_path / "target").read_text() == "mine"


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "a/../../b", ".", ""])
def test_unsafe_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError):
        safe_join(str(tmp_path), name)


def snapshot_of(channel, root, **limits):
    skipped = []
    cut = snapshot(channel, str(root), limits.get("max_bytes", 1 << 30), limits.get("max_files", 10000), skipped=skipped)
    with tarfile.open(fileobj=io.BytesIO(channel.joined(b"f")), mode="r|") as archive:
        files = {member.name: archive.extractfile(member).read() for member in archive}
    return files, cut, skipped


def test_a_snapshot_holds_every_regular_file_and_round_trips_through_staging(channel, tmp_path):
    for name in ODD_NAMES:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    files, cut, skipped = snapshot_of(channel, tmp_path / "in")
    assert files == {name: name.encode() for name in ODD_NAMES}
    assert (cut, skipped) == (False, [])
    stage_bytes(tmp_path / "out", channel.joined(b"f"))
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()) == sorted(ODD_NAMES)


def test_a_snapshot_leaves_out_links_fifos_hard_links_and_names_that_are_not_utf8(channel, tmp_path):
    (tmp_path / "kept").write_text("kept")
    os.symlink("/etc/passwd", tmp_path / "symlink")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "linked").write_text("x")
    os.link(tmp_path / "linked", tmp_path / "hardlink")
    with open(os.path.join(os.fsencode(tmp_path), b"bad-\xff"), "wb") as handle:
        handle.write(b"x")
    files, cut, _ = snapshot_of(channel, tmp_path)
    assert files == {"kept": b"kept"}
    assert not cut


def test_a_snapshot_stops_at_its_byte_cap_and_says_which_files_it_left_out(channel, tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(b"x" * 10)
    files, cut, skipped = snapshot_of(channel, tmp_path, max_bytes=25)
    assert sorted(files) == ["a", "b"]
    assert cut
    assert skipped == [{"path": "c", "reason": "the workspace's files add up to over 25 bytes"}]


def test_a_snapshot_stops_at_its_file_cap_and_lists_at_most_a_hundred_left_out(channel, tmp_path):
    for index in range(MAX_SKIPPED_LISTED + 20):
        (tmp_path / ("f%03d" % index)).write_bytes(b"x")
    files, cut, skipped = snapshot_of(channel, tmp_path, max_files=10)
    assert len(files) == 10
    assert cut
    assert len(skipped) == MAX_SKIPPED_LISTED
    assert skipped[0]["reason"] == "the workspace's files add up to more than 10 files"


def test_sent_files_arrive_as_one_tar(channel):
    send_files(channel, [("figure-1-1.png", b"\x89PNG"), ("figure-1-2.png", b"")])
    with tarfile.open(fileobj=io.BytesIO(channel.joined(b"f")), mode="r|") as archive:
        assert {member.name: archive.extractfile(member).read() for member in archive} == {"figure-1-1.png": b"\x89PNG", "figure-1-2.png": b""}
