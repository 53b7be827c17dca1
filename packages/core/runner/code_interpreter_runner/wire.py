"""The framing of what the runner sends (one type byte, a big-endian uint32
length, the payload) and exact reads of what it is sent."""
import struct
import sys

HEADER_BYTES = 5

# The most a Channel holds back between `hold` and `release`.
HOLD_BYTES = 1 << 20


def encode_frame(kind, payload):
    """One frame: `kind` (one byte) and the payload's length before it."""
    return kind + struct.pack(">I", len(payload)) + payload


def frame_header(pending):
    """(kind, length) of the frame at the start of `pending`, or None while its header is incomplete."""
    if len(pending) < HEADER_BYTES:
        return None
    (length,) = struct.unpack(">I", pending[1:HEADER_BYTES])
    return pending[:1], length


class Channel:
    """The runner's answer stream to the server. Frames are written whole,
    under a lock once `open` has made one (threads share the stream)."""

    def __init__(self, out=None):
        self.out = sys.stdout.buffer if out is None else out
        self.lock = None
        self.held = None

    def open(self, out=None):
        """Ready to send from several threads; `out` moves the stream elsewhere (a kernel's copy of fd 1)."""
        import threading

        self.lock = threading.Lock()
        if out is not None:
            self.out = out
        return self

    def frame(self, kind, payload):
        with self.lock:
            if self.held is None:
                self.out.write(encode_frame(kind, payload))
                self.out.flush()
                return
            self.held += encode_frame(kind, payload)
            if len(self.held) >= HOLD_BYTES:
                self.send_held()

    def hold(self):
        """Frames from now on wait (up to HOLD_BYTES of them) until `release`, and then go out in one write: a
        snapshot's frames and the result, once the code has ended (under gVisor each write is a round trip)."""
        with self.lock:
            if self.held is None:
                self.held = bytearray()

    def release(self):
        """Sends the frames held since `hold`, and sends each frame at once again."""
        with self.lock:
            if self.held is not None:
                self.send_held()
                self.held = None

    def send_held(self):
        if self.held:
            self.out.write(self.held)
            self.out.flush()
            self.held = bytearray()

    def ready(self):
        """Tells the server a warm sandbox is ready: an empty "r" frame, only ever first (see RunnerChannel)."""
        self.out.write(encode_frame(b"r", b""))
        self.out.flush()

    def flush(self):
        self.out.flush()


class FrameWriter:
    """A file-like object (for tarfile) that sends what is written as frames of `kind`, 64 KiB each."""

    def __init__(self, channel, kind=b"f", size=1 << 16):
        self.channel, self.kind, self.size = channel, kind, size
        self.buffer = bytearray()

    def write(self, data):
        self.buffer += data
        while len(self.buffer) >= self.size:
            self.channel.frame(self.kind, bytes(self.buffer[: self.size]))
            del self.buffer[: self.size]
        return len(data)

    def close(self):
        if self.buffer:
            self.channel.frame(self.kind, bytes(self.buffer))
            self.buffer = bytearray()


def read_exact(stream, size):
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("request ended early")
        data += chunk
    return data


class LimitedReader:
    """Reads exactly `size` bytes of the request stream, no more."""

    def __init__(self, stream, size):
        self.stream = stream
        self.remaining = size

    def read(self, size=-1):
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self.stream.read(size) if size else b""
        if size and not data:
            raise EOFError("request ended early")
        self.remaining -= len(data)
        return data

    def drain(self):
        """Reads what is left, so the next request starts where it should."""
        while self.remaining:
            self.read(1 << 16)
