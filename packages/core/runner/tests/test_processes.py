import os
import resource
import select
import signal
import subprocess
import sys
import time

from code_interpreter_runner.processes import (
    SHIELDED,
    descendants,
    hung_up,
    kill_everything,
    limit_setter,
    reap_orphans,
    rlimit_pairs,
    shield,
    spawn_limited,
)

# A shell that starts a grandchild, a sleep in its own process group, and waits.
TREE = "sleep 300 & setsid sleep 301 & wait"


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def test_descendants_are_found_below_a_process_however_deep():
    proc = subprocess.Popen(["bash", "-c", TREE])
    try:
        assert wait_for(lambda: len(descendants(proc.pid)) == 2)
        assert proc.pid in descendants(os.getpid())
    finally:
        kill_everything(proc, False)
        proc.wait()


def test_kill_everything_ends_the_process_and_what_it_started():
    proc = subprocess.Popen(["bash", "-c", TREE], start_new_session=True)
    assert wait_for(lambda: len(descendants(proc.pid)) == 2)
    started = descendants(proc.pid)
    kill_everything(proc, False)
    assert proc.wait() == -signal.SIGKILL
    reap_orphans()
    assert wait_for(lambda: not any(alive(pid) for pid in started))


def test_limits_reach_the_child_with_its_own_session_and_default_signals():
    limits = {"cpu_seconds": 7, "open_files": 64, "file_size_bytes": 1 << 20, "address_space_bytes": None, "unknown": 5}
    assert sorted(rlimit_pairs(limits)) == sorted([(resource.RLIMIT_CPU, 7), (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_FSIZE, 1 << 20)])
    report = (
        "import os, resource, signal\n"
        "print(resource.getrlimit(resource.RLIMIT_CPU), resource.getrlimit(resource.RLIMIT_NOFILE), resource.getrlimit(resource.RLIMIT_FSIZE))\n"
        "print(os.getsid(0) == os.getpid(), signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)\n"
    )
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        out = subprocess.run([sys.executable, "-c", report], preexec_fn=limit_setter(limits), capture_output=True, text=True, check=True).stdout
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert out.splitlines() == ["(7, 7) (64, 64) (1048576, 1048576)", "True True"]


REPORT = (
    "import os, resource, signal\n"
    "print(resource.getrlimit(resource.RLIMIT_CPU), resource.getrlimit(resource.RLIMIT_NOFILE), resource.getrlimit(resource.RLIMIT_FSIZE))\n"
    "print(os.getsid(0) == os.getpid(), all(signal.getsignal(getattr(signal, name)) == signal.SIG_DFL for name in ('SIGTERM', 'SIGHUP', 'SIGXCPU')))\n"
)


def test_a_command_spawned_without_preexec_fn_gets_the_same_limits_session_and_signals():
    # What a session's command runner does (shield caught, no Python run in the child): the same as limit_setter gives.
    limits = {"cpu_seconds": 7, "open_files": 64, "file_size_bytes": 1 << 20, "address_space_bytes": None}
    saved = {name: signal.getsignal(getattr(signal, name)) for name in SHIELDED + ("SIGXCPU",) if hasattr(signal, name)}
    ours = {which: resource.getrlimit(which) for which in (resource.RLIMIT_CPU, resource.RLIMIT_NOFILE, resource.RLIMIT_FSIZE)}
    try:
        shield(True, caught=True)
        os.kill(os.getpid(), signal.SIGTERM)  # caught: we live on
        proc = spawn_limited(
            lambda argv: subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True),
            [sys.executable, "-c", REPORT],
            limits,
            os.defpath,
        )
        assert proc is not None
        out = proc.communicate(timeout=30)[0]
    finally:
        shield(False)
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)
    assert out.splitlines() == ["(7, 7) (64, 64) (1048576, 1048576)", "True True"]
    # Ours are as they were: only the child keeps them.
    assert {which: resource.getrlimit(which) for which in ours} == ours


def test_a_command_spawned_without_preexec_fn_cannot_raise_its_limits():
    raise_it = "import resource\ntry:\n    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))\n    print('raised')\nexcept ValueError:\n    print('refused')\n"
    proc = spawn_limited(lambda argv: subprocess.Popen(argv, stdout=subprocess.PIPE, text=True), [sys.executable, "-c", raise_it], {"open_files": 64}, os.defpath)
    assert proc.communicate(timeout=30)[0].strip() == "refused"


def test_a_command_spawned_without_preexec_fn_has_its_hard_limits_before_it_runs():
    # No window after the start: the command's first look (and anything it forks at once) sees the hard limit.
    proc = spawn_limited(
        lambda argv: subprocess.Popen(argv, stdout=subprocess.PIPE, text=True),
        ["sh", "-c", "ulimit -Hn"],
        {"open_files": 64},
        os.defpath,
    )
    assert proc.communicate(timeout=30)[0].strip() == "64"


def test_a_missing_command_is_reported_as_missing_on_the_fast_path_too():
    ours = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        spawn_limited(lambda argv: subprocess.Popen(argv), ["/no/such/command"], {"open_files": 64}, os.defpath)
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("a missing command started")
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == ours


def test_limits_can_keep_the_session():
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getsid(0) == os.getpid())"], preexec_fn=limit_setter({}, new_session=False), capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_a_shielded_process_survives_the_signals_that_would_end_it():
    saved = {name: signal.getsignal(getattr(signal, name)) for name in SHIELDED if hasattr(signal, name)}
    try:
        shield(True)
        for name in ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGINT"):
            os.kill(os.getpid(), getattr(signal, name))
        shield(False)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)


def test_a_closed_channel_is_a_hang_up_and_waiting_bytes_are_not():
    read_end, write_end = os.pipe()
    poller = select.poll()
    poller.register(read_end, 0)
    os.write(write_end, b"request")
    assert not any(hung_up(event) for _, event in poller.poll(0))
    os.close(write_end)
    assert any(hung_up(event) for _, event in poller.poll(1000))
    os.close(read_end)


def test_set_dumpable_turns_dumping_off_and_on():
    code = (
        "import ctypes\n"
        "from code_interpreter_runner.processes import set_dumpable\n"
        "get = lambda: ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE\n"
        "before = get(); set_dumpable(0); off = get(); set_dumpable(1)\n"
        "print(before, off, get())\n"
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split() == ["1", "0", "1"]
