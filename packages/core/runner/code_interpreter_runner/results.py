"""The rich results of the run in progress: objects shown with display(), the
value of a bare last expression (is_main_result) and open matplotlib figures
become bundles {is_main_result, data: {mime: value}, chart?}, in display
order, and an exception becomes {name, value, traceback}. The code's stdout
stays as it was. Code run in its own process sends them to the runner over a
pipe (`pipe_sender`), read there by a ResultsReader."""
import os
import sys
import time

from .display import RICH_MIME, figure_chart, figure_png, mime_bundle, safe_repr, safe_str
from .wire import encode_frame, frame_header

# One bundle must fit a frame (the server reads at most 16 MiB): larger data is left out.
MAX_BUNDLE_BYTES = 12 << 20
# Bounds what one run can send however often it calls display().
MAX_RESULTS = 200
MAX_RESULTS_BYTES = 48 << 20


class RichResults:
    """The display machinery of the run in progress: bundles go to `send` as they are made."""

    def __init__(self):
        self.send = None
        self.count = 0
        self.bytes = 0
        self.shown_figures = set()
        self.figure_files = []
        self.exception = None
        self.installed = False
        self.number = 0

    def start(self, send, number=0):
        self.send, self.count, self.bytes, self.number = send, 0, 0, number
        self.shown_figures, self.figure_files, self.exception = set(), [], None
        self.install()

    def stop(self):
        self.send = None

    def show(self, value, main=False, chart=None):
        if self.send is None or self.count >= MAX_RESULTS:
            return
        try:
            data = mime_bundle(value, self.shown_figures)
        except Exception as error:
            data = {"text/plain": "<display failed: %s>" % error}
        self.emit(data, main, chart)

    def emit(self, data, main=False, chart=None):
        import json

        settle_output()

        result = {"is_main_result": bool(main), "data": data}
        if chart:
            result["chart"] = chart
        try:
            payload = json.dumps(result).encode()
        except (TypeError, ValueError):
            payload = json.dumps({"is_main_result": bool(main), "data": {"text/plain": data.get("text/plain", "")}}).encode()
        if len(payload) > MAX_BUNDLE_BYTES:
            note = "%s\n[left out: this result's data is over %d bytes]" % (data.get("text/plain", ""), MAX_BUNDLE_BYTES)
            payload = json.dumps({"is_main_result": bool(main), "data": {"text/plain": note}}).encode()
        if self.bytes + len(payload) > MAX_RESULTS_BYTES:
            return
        self.count += 1
        self.bytes += len(payload)
        self.send(b"d", payload)

    def error(self, error, text):
        self.exception = {"name": type(error).__name__, "value": safe_str(error), "traceback": text}
        if self.send is not None:
            import json

            self.send(b"r", json.dumps(self.exception).encode())

    def flush_figures(self, keep_files=False):
        """Open figures become image/png results (and, in a session, files), then closed, as a notebook shows them."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None or self.send is None:
            return
        try:
            for num in pyplot.get_fignums():
                figure = pyplot.figure(num)
                png = figure_png(figure)
                if keep_files:
                    self.figure_files.append(("figure-%d-%d.png" % (self.number, len(self.figure_files) + 1), png))
                if id(figure) not in self.shown_figures:
                    import base64

                    data = {"text/plain": safe_repr(figure), "image/png": base64.b64encode(png).decode("ascii")}
                    self.emit(data, chart=figure_chart(figure))
            pyplot.close("all")
        except Exception as error:
            print("could not save the figures: %s" % error, file=sys.stderr)

    def install(self):
        """display() as a builtin, the REPL's displayhook, and IPython's display() and pyplot.show() routed here."""
        if self.installed:
            return
        import builtins

        self.installed = True
        builtins.display = display
        sys.displayhook = displayhook
        patches = {"IPython.core.display_functions": patch_ipython, "matplotlib.pyplot": patch_pyplot}
        for name, patch in patches.items():
            if name in sys.modules:
                patch(sys.modules[name])
        sys.meta_path.insert(0, AfterImport(patches))


def settle_output(*fds):
    """Lets what the code printed (and `fds`) reach the runner before what it makes next, so
    output and results arrive in the order they were made (bounded: output nobody reads is not waited for)."""
    import fcntl
    import struct
    import termios

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    waited = 0
    pending = bytearray(4)
    while waited < 50:
        try:
            busy = 0
            for fd in (1, 2) + fds:
                fcntl.ioctl(fd, termios.FIONREAD, pending)
                busy += struct.unpack("i", bytes(pending))[0]
        except OSError:
            return
        if not busy:
            break
        time.sleep(0.002)
        waited += 1
    time.sleep(0.001)  # the reader between taking the bytes and framing them


# The one collector: display(), the displayhook and the patched pyplot.show() are handed to the code and find it here.
RICH = RichResults()


def display(*objects, **options):
    """IPython's display(), notebook style: each object becomes a result. `raw=True` takes objects as {mime: data}."""
    raw = options.get("raw", False)
    for value in objects:
        if raw and isinstance(value, dict):
            RICH.emit({mime: data for mime, data in value.items() if mime in RICH_MIME})
        else:
            RICH.show(value)


def displayhook(value):
    """The REPL's: the repr to stdout as before, and the value as the main result."""
    if value is None:
        return
    sys.__displayhook__(value)
    RICH.show(value, main=True)


def patch_ipython(module):
    module.display = display


def patch_pyplot(module):
    original = module.show

    def show(*args, **kwargs):
        if RICH.send is None:
            return original(*args, **kwargs)
        RICH.flush_figures(keep_files=RICH.number > 0)

    module.show = show


class AfterImport:
    """Patches a module right after it is first imported (IPython's display, pyplot's show), so importing neither costs a run anything."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        patch = self.patches.get(name)
        if patch is None:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def run(module):
            exec_module(module)
            try:
                patch(module)
            except Exception:
                pass

        spec.loader.exec_module = run
        return spec


def pipe_sender(fd):
    """Sends results from the code's process to the runner over a pipe, framed like the runner's own output."""

    def send(kind, payload):
        data = encode_frame(kind, payload)
        while data:
            try:
                written = os.write(fd, data)
            except OSError:
                return
            data = data[written:]
        settle_output(fd)

    return send


class ResultsReader:
    """Reads the code's results pipe: display bundles go on to the server as they come, the exception is kept.
    The code could write anything there, so sizes are bounded and what does not parse is dropped."""

    def __init__(self, channel, fd):
        self.channel = channel
        self.fd = fd
        self.pending = b""
        self.exception = None
        self.sent = 0
        self.broken = False
        # The exit status the code's process reported as it ended ("z", launch.report_exit), or None.
        self.exit_status = None

    def push(self, chunk):
        import json

        if self.broken:
            return
        self.pending += chunk
        while True:
            header = frame_header(self.pending)
            if header is None:
                return
            kind, length = header
            if kind not in (b"d", b"r", b"z") or length > MAX_BUNDLE_BYTES + (1 << 16):
                self.broken, self.pending = True, b""
                return
            if len(self.pending) < 5 + length:
                return
            payload = self.pending[5 : 5 + length]
            self.pending = self.pending[5 + length :]
            if kind == b"z":
                if length <= 3 and payload.isdigit() and int(payload) <= 255:
                    self.exit_status = int(payload)
            elif kind == b"r":
                try:
                    self.exception = json.loads(payload)
                except ValueError:
                    pass
            elif self.sent + len(payload) <= MAX_RESULTS_BYTES:
                self.sent += len(payload)
                self.channel.frame(b"d", payload)
