"""Shared helpers of the runner's module tests: a channel that records frames,
and Python in the sandbox's own root filesystem (for the data stack)."""
import io
import os
import shutil
import subprocess
import sys

import pytest

from code_interpreter_runner.wire import Channel, frame_header

RUNNER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.abspath(os.path.join(RUNNER_DIR, "..", "..", ".."))


def split_frames(data):
    """[(kind, payload)] of a whole stream of frames."""
    frames = []
    while data:
        kind, length = frame_header(data)
        frames.append((kind, data[5 : 5 + length]))
        data = data[5 + length :]
    return frames


class RecordingChannel(Channel):
    """A channel into memory; `frames()` decodes what was sent."""

    def __init__(self):
        super().__init__(io.BytesIO())
        self.open()

    def frames(self, kind=None):
        return [(k, p) for k, p in split_frames(self.out.getvalue()) if kind is None or k == kind]

    def joined(self, kind):
        return b"".join(payload for _, payload in self.frames(kind))


@pytest.fixture
def channel():
    return RecordingChannel()


def run_runner(args, stdin=b"", cwd=None, timeout=60):
    """Runs the package as the sandboxes run the bundle (`python3 -m code_interpreter_runner ARGS`)."""
    env = dict(os.environ, PYTHONPATH=RUNNER_DIR, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "code_interpreter_runner", *args], input=stdin, capture_output=True, cwd=cwd, env=env, timeout=timeout)


def unavailable(reason):
    """Skips the test, except under CI=true, where what it needs must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail("%s (CI=true: nothing is skipped)" % reason)
    pytest.skip(reason)


def sandbox_rootfs():
    """The prepared root filesystem the local backend runs code in (LOCAL_ROOTFS, else the declared environment's)."""
    script = ". images/environment/environment.sh && environment_rootfs"
    return subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def sandbox_python():
    """Runs a Python snippet with the sandbox's python3 and data stack (bubblewrap over the prepared
    root filesystem, this package bound at /tmp/runner); returns its stdout. The host's Debian python3
    lacks pandas and matplotlib, and the sandbox's are the versions the runner meets."""
    rootfs = sandbox_rootfs()
    bwrap = shutil.which("bwrap")
    if not bwrap or not os.path.exists(os.path.join(rootfs, "usr/bin/python3")):
        unavailable("no sandbox root filesystem at %s or no bwrap: prepare it with bash scripts/prepare-environment.sh" % rootfs)

    def run(snippet):
        argv = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev"]
        argv += ["--tmpfs", "/tmp", "--ro-bind", RUNNER_DIR, "/tmp/runner", "--chdir", "/tmp", "--clearenv"]
        for key, value in (("PATH", "/usr/bin:/bin"), ("HOME", "/tmp"), ("MPLBACKEND", "Agg"), ("MPLCONFIGDIR", "/tmp/.matplotlib"), ("PYTHONPATH", "/tmp/runner")):
            argv += ["--setenv", key, value]
        done = subprocess.run(argv + ["/usr/bin/python3", "-B", "-c", snippet], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run
