"""The sandbox's syscall filter, loaded by the runner on itself (`--seccomp`).

A process started by exec into a gVisor container (runsc 20221219) does not get
the container's seccomp profile, which runsc applies to the container's first
process only; so a session's command runner and kernel, started that way, load
the same policy themselves before they serve, and everything they start
inherits it. The server sends the policy's classic BPF program for each
architecture core knows (`x86_64=<base64>,aarch64=<base64>`, from core's
`seccompBpf`); the runner loads the one for the machine it runs on.
"""
import os

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
ARGUMENT = "--seccomp"


def programs(spec):
    """{machine: BPF program bytes} from `x86_64=<base64>,aarch64=<base64>`."""
    import base64

    found = {}
    for item in spec.split(","):
        machine, _, program = item.partition("=")
        found[machine] = base64.b64decode(program)
    return found


def load(spec):
    """Loads the filter for this machine on this process (and so on all it starts); raises OSError when it cannot,
    and the runner then stops rather than serve unfiltered."""
    import ctypes

    machine = os.uname().machine
    program = programs(spec).get(machine)
    if program is None or len(program) % 8:
        raise OSError("no syscall filter for this sandbox's architecture (%s)" % machine)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    # Without privileges a filter needs no_new_privs (the sandbox has it set already; this makes sure).
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0 or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, "cannot load the syscall filter: %s" % os.strerror(error))


def take_filter(argv):
    """argv without a trailing `--seccomp SPEC`, after loading that filter on this process (argv unchanged without)."""
    if len(argv) > 2 and argv[-2] == ARGUMENT:
        load(argv[-1])
        return argv[:-2]
    return argv
