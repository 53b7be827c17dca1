import io
import threading

import pytest

from code_interpreter_runner.wire import Channel, FrameWriter, LimitedReader, encode_frame, frame_header, read_exact
from conftest import split_frames


@pytest.mark.parametrize("payload", [b"", b"x", b"\x00\xff" * 1000, bytes(range(256)) * 300])
def test_a_frame_round_trips(payload):
    data = encode_frame(b"o", payload)
    assert frame_header(data) == (b"o", len(payload))
    assert split_frames(data) == [(b"o", payload)]


def test_the_length_is_big_endian_after_the_kind():
    assert encode_frame(b"x", b"{}") == b"x\x00\x00\x00\x02{}"


def test_a_header_is_incomplete_below_five_bytes():
    assert frame_header(b"o\x00\x00\x00") is None


def test_frames_sent_from_threads_arrive_whole(channel):
    def send(kind):
        for index in range(200):
            channel.frame(kind, b"%d" % index * 50)

    threads = [threading.Thread(target=send, args=(kind,)) for kind in (b"o", b"e", b"d")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    frames = channel.frames()
    assert len(frames) == 600
    for kind in (b"o", b"e", b"d"):
        assert [payload for k, payload in frames if k == kind] == [b"%d" % index * 50 for index in range(200)]


def test_ready_is_an_empty_r_frame_with_no_lock_needed():
    out = io.BytesIO()
    Channel(out).ready()
    assert out.getvalue() == b"r\x00\x00\x00\x00"


def test_a_frame_writer_cuts_what_it_is_given_into_frames_of_its_size(channel):
    writer = FrameWriter(channel, b"f", size=4)
    writer.write(b"abcdefghij")
    writer.close()
    assert channel.frames() == [(b"f", b"abcd"), (b"f", b"efgh"), (b"f", b"ij")]
    writer.close()
    assert len(channel.frames()) == 3


def test_read_exact_reads_across_short_reads_and_fails_on_early_end():
    class Trickle(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def read(self, size=-1):
            chunk, self.data = self.data[:1], self.data[1:]
            return chunk

    assert read_exact(Trickle(b"hello"), 5) == b"hello"
    with pytest.raises(EOFError):
        read_exact(io.BytesIO(b"hel"), 5)


def test_a_limited_reader_stops_at_its_size_and_drains_the_rest():
    stream = io.BytesIO(b"0123456789next")
    reader = LimitedReader(stream, 10)
    assert reader.read(4) == b"0123"
    assert reader.read() == b"456789"
    assert reader.read(5) == b""
    stream = io.BytesIO(b"0123456789next")
    LimitedReader(stream, 10).drain()
    assert stream.read() == b"next"
    short = LimitedReader(io.BytesIO(b"012"), 10)
    assert short.read() == b"012"
    with pytest.raises(EOFError):
        short.read()


class CountingOut(io.BytesIO):
    """A stream that counts the writes it takes (under gVisor each is a round trip through its kernel)."""

    writes = 0

    def write(self, data):
        self.writes += 1
        return super().write(data)


def test_held_frames_go_out_in_one_write_on_release_in_order():
    out = CountingOut()
    channel = Channel(out).open()
    channel.frame(b"o", b"streamed")
    assert out.writes == 1  # not held: written at once
    channel.hold()
    channel.frame(b"f", b"tar" * 1000)
    channel.frame(b"x", b"{}")
    assert out.writes == 1
    channel.release()
    assert out.writes == 2
    assert split_frames(out.getvalue()) == [(b"o", b"streamed"), (b"f", b"tar" * 1000), (b"x", b"{}")]
    channel.frame(b"o", b"after")
    assert out.writes == 3


def test_held_frames_are_written_once_they_reach_the_bound():
    out = CountingOut()
    channel = Channel(out).open()
    channel.hold()
    for _ in range(3):
        channel.frame(b"f", b"\x00" * (600 << 10))
    assert out.writes == 1  # the first two frames passed HOLD_BYTES: out, the third waits
    channel.release()
    assert [len(payload) for _, payload in split_frames(out.getvalue())] == [600 << 10] * 3
