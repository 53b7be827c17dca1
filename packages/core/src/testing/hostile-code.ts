/**
 * Python (and bash) programs the hostile suite runs in the sandbox. Each
 * prints a short verdict the suite checks, so a failure shows what happened.
 */

/** argv[0] of processes the hostile code leaves running, so a test can look for them on the host. */
export const HOSTILE_MARKER = "code-interpreter-hostile-stray";

/** Starts a marked `sleep` in the background (bash `exec -a` names it). */
const STRAY = `["bash", "-c", "exec -a ${HOSTILE_MARKER} sleep 300"]`;

export const FORK_BOMB = `import os
while True:
    try:
        os.fork()
    except OSError:
        pass
`;

export const THREAD_BOMB = `import threading, time
started = 0
try:
    while started < 100000:
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        started += 1
    print("unlimited")
except (RuntimeError, MemoryError, OSError):
    print("limited")
`;

export const MEMORY_BOMB = (megabytes: number) => `chunks = []
for _ in range(${megabytes} // 16):
    chunks.append(b"x" * (16 * 2**20))
print("survived", len(chunks) * 16, "MB")
`;

export const CPU_SPIN = `print("spinning", flush=True)
while True:
    pass
`;

export const STALLS = `import os, time
print("stalling", flush=True)
reader, writer = os.pipe()
os.read(reader, 1)  # nobody ever writes
time.sleep(60)
`;

export const BLOCKING_INPUT = `answer = input("? ")
print("got", repr(answer))
`;

/**
 * Writes 1 MiB files until the filesystem says no (many files, so a per-file
 * size limit is not what stops it); prints the errno name and whether the
 * total stayed within `limitMb`.
 */
export const FILL_DISK = (dir: string, limitMb: number, keep: boolean) => `import errno, os
written = 0
made = []
try:
    while written < ${limitMb * 4} * 2**20:
        path = ${JSON.stringify(dir)} + "/fill-%d" % len(made)
        made.append(path)
        with open(path, "wb") as handle:
            handle.write(b"x" * 2**20)
        written += 2**20
    print("unlimited")
except OSError as error:
    print(errno.errorcode.get(error.errno, error.errno), written <= ${limitMb} * 2**20)
for path in made if ${keep ? "False" : "True"} else []:
    try:
        os.unlink(path)
    except OSError:
        pass
`;

/** Makes empty files until the filesystem runs out of inodes, or gives up after `most`. */
export const FILL_INODES = (dir: string, most: number) => `import errno, os
os.makedirs(${JSON.stringify(dir)} + "/inodes", exist_ok=True)
made = 0
try:
    while made < ${most}:
        os.close(os.open(${JSON.stringify(dir)} + "/inodes/%d" % made, os.O_CREAT | os.O_WRONLY, 0o644))
        made += 1
    print("unlimited")
except OSError as error:
    print(errno.errorcode.get(error.errno, error.errno))
`;

export const FD_EXHAUSTION = `import os
fds = []
try:
    while len(fds) < 1000000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    print("unlimited")
except OSError as error:
    print("limited", len(fds) < 100000)
`;

/** Floods one stream with `megabytes` of output: lines, one long line, or binary bytes. */
export const FLOOD = (stream: 1 | 2, kind: "lines" | "no-newlines" | "binary", megabytes: number) => {
  const chunk = kind === "lines" ? `b"x" * 99 + b"\\n"` : kind === "binary" ? "bytes(range(256)) * 4" : `b"y" * 1024`;
  return `import os
chunk = (${chunk}) * 64
total = 0
while total < ${megabytes} * 2**20:
    total += os.write(${stream}, chunk)
`;
};

export const STOP_OWN_GROUP = `import os, signal
print("stopping", flush=True)
os.killpg(0, signal.SIGSTOP)
print("resumed")
`;

/** Leaves a zombie, an orphan and a daemon (double fork, setsid) that keeps stdout open, then exits. */
export const ORPHANS_AND_DAEMONS = `import os, subprocess
if os.fork() == 0:
    os._exit(0)  # never reaped by us: a zombie until we exit
subprocess.Popen(${STRAY})  # an orphan once we exit, holding our stdout
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("bash", ${STRAY})
    os._exit(0)
print("left them", flush=True)
`;

export const CHILD_HOLDS_PIPE = `import subprocess
subprocess.Popen(${STRAY}, stdout=None, stderr=None)
print("parent done", flush=True)
`;

/** Tries to connect to each address; prints `host:port blocked|connected`. */
export const CONNECT = (targets: readonly (readonly [string, number])[]) => `import socket
for host, port in ${JSON.stringify(targets)}:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        print(host, port, "connected")
    except OSError:
        print(host, port, "blocked")
    finally:
        s.close()
`;

export const DNS_LOOKUP = `import socket
for name in ["localhost.localdomain", "example.com", "metadata.google.internal", "kubernetes.default.svc"]:
    try:
        socket.setdefaulttimeout(2)
        addresses = socket.getaddrinfo(name, 80)
        if all(a[4][0] in ("127.0.0.1", "::1") for a in addresses):
            continue
        print(name, "resolved")
    except OSError:
        pass
print("done")
`;

export const ENGINE_SOCKETS = `import os
for path in ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/secrets/kubernetes.io"]:
    if os.path.exists(path):
        print("present", path)
print("done")
`;

/** Prints `name value` for the status fields the suite checks. */
export const PRIVILEGES = `fields = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
for name in ["Uid", "Gid", "CapEff", "CapPrm", "CapAmb", "NoNewPrivs", "Seccomp"]:
    print(name, " ".join(fields.get(name, "absent").split()))
`;

// Written apart from core's SYSCALL_NUMBERS (from the kernel's unistd headers), so a wrong number there shows here.
const SYSCALL_NUMBERS = `import ctypes, errno, os, platform, signal, time
NR = {
    "x86_64": {"mount": 165, "unshare": 272, "ptrace": 101, "keyctl": 250, "bpf": 321, "socket": 41, "io_uring_setup": 425,
               "userfaultfd": 323, "perf_event_open": 298, "process_vm_readv": 310, "kexec_load": 246, "init_module": 175,
               "clone": 56, "add_key": 248},
    "aarch64": {"mount": 40, "unshare": 97, "ptrace": 117, "keyctl": 219, "bpf": 280, "socket": 198, "io_uring_setup": 425,
                "userfaultfd": 282, "perf_event_open": 241, "process_vm_readv": 270, "kexec_load": 104, "init_module": 105,
                "clone": 220, "add_key": 217},
}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def verdict(label, result):
    print(label, "allowed" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "error"), flush=True)
def call(name, *args, label=None):
    result = libc.syscall(NR[name], *args)
    verdict(label or name, result)
    return result
`;

/** socket(family, SOCK_STREAM or SOCK_RAW, 0) through the raw syscall. */
const SOCKET = (label: string, family: number, type = 1) =>
  `${SYSCALL_NUMBERS}fd = call("socket", ctypes.c_long(${family}), ctypes.c_long(${type}), ctypes.c_long(0), label=${JSON.stringify(label)})
if fd >= 0:
    os.close(fd)
`;

/** PTRACE_ATTACH (16) to `target`, a Python expression; detaches again if it was let through. */
const PTRACE_ATTACH = (label: string, target: string) =>
  `${SYSCALL_NUMBERS}if call("ptrace", ctypes.c_long(16), ctypes.c_long(${target}), None, None, label=${JSON.stringify(label)}) >= 0:
    libc.syscall(NR["ptrace"], ctypes.c_long(17), ctypes.c_long(${target}), None, None)
`;

/**
 * Each tries one dangerous syscall (or family) and prints `name allowed|<errno>`:
 * the sandbox's syscall policy (core's SYSCALL_POLICY) refuses every one with
 * `errno`, which the kernel's own checks would not give (EFAULT, EINVAL,
 * ENOSYS, EACCES), so a pass shows the policy and not a privilege check.
 */
export const DANGEROUS_SYSCALLS: Record<string, { errno: string; source: string }> = {
  mount: { errno: "EPERM", source: `${SYSCALL_NUMBERS}call("mount", b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None)\n` },
  // CLONE_NEWUSER | CLONE_NEWNS: a fresh user namespace would hand the code every capability inside it.
  unshare: { errno: "EPERM", source: `${SYSCALL_NUMBERS}call("unshare", ctypes.c_ulong(0x10000000 | 0x00020000))\n` },
  // clone(CLONE_NEWUSER | SIGCHLD) with no stack, as fork does: a child, if one is made, leaves at once.
  "clone(CLONE_NEWUSER)": {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}pid = libc.syscall(NR["clone"], ctypes.c_ulong(0x10000000 | 17), None, None, None, None)
if pid == 0:
    os._exit(0)
verdict("clone(CLONE_NEWUSER)", pid)
if pid > 0:
    os.waitpid(pid, 0)
`,
  },
  // PTRACE_ATTACH to the process that started the code (the runner), which is not its descendant.
  ptrace: { errno: "EPERM", source: PTRACE_ATTACH("ptrace", "os.getppid()") },
  // The sandbox's pid 1: a session's init, a one-shot sandbox's runner.
  "ptrace(pid 1)": { errno: "EPERM", source: PTRACE_ATTACH("ptrace(pid 1)", "1") },
  // A sibling: another child of the code, traced by its brother (not its ancestor).
  "ptrace(sibling)": {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}sleeper = os.fork()
if sleeper == 0:
    time.sleep(30)
    os._exit(0)
tracer = os.fork()
if tracer == 0:
    if call("ptrace", ctypes.c_long(16), ctypes.c_long(sleeper), None, None, label="ptrace(sibling)") >= 0:
        libc.syscall(NR["ptrace"], ctypes.c_long(17), ctypes.c_long(sleeper), None, None)
    os._exit(0)
os.waitpid(tracer, 0)
os.kill(sleeper, signal.SIGKILL)
os.waitpid(sleeper, 0)
`,
  },
  // Reads a page of the runner's memory.
  process_vm_readv: {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]
buffer = ctypes.create_string_buffer(16)
local = iovec(ctypes.cast(buffer, ctypes.c_void_p), 16)
remote = iovec(ctypes.c_void_p(0x400000), 16)
call("process_vm_readv", ctypes.c_long(os.getppid()), ctypes.byref(local), ctypes.c_ulong(1), ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))
`,
  },
  // KEYCTL_JOIN_SESSION_KEYRING: the kernel keyring is not namespaced.
  keyctl: { errno: "EPERM", source: `${SYSCALL_NUMBERS}call("keyctl", ctypes.c_long(1), b"hostile")\n` },
  add_key: {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}call("add_key", b"user", b"hostile", b"x", ctypes.c_size_t(1), ctypes.c_long(-3))\n`,
  },
  // BPF_MAP_CREATE with an empty attribute block.
  bpf: {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}attr = ctypes.create_string_buffer(128)\ncall("bpf", ctypes.c_long(0), attr, ctypes.c_long(128))\n`,
  },
  // Four entries; the kernel fills the parameter block.
  io_uring_setup: {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}params = ctypes.create_string_buffer(120)
fd = call("io_uring_setup", ctypes.c_ulong(4), params)
if fd >= 0:
    os.close(fd)
`,
  },
  userfaultfd: {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}fd = call("userfaultfd", ctypes.c_long(0))
if fd >= 0:
    os.close(fd)
`,
  },
  // A software clock counter on this process, any CPU (perf_event_attr: type, size, config).
  perf_event_open: {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}attr = ctypes.create_string_buffer(128)
ctypes.memmove(attr, (ctypes.c_uint32 * 2)(1, 128), 8)
fd = call("perf_event_open", attr, ctypes.c_long(0), ctypes.c_long(-1), ctypes.c_long(-1), ctypes.c_ulong(0))
if fd >= 0:
    os.close(fd)
`,
  },
  // No segments: harmless if it were let through, refused before any privilege check by the policy.
  kexec_load: {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}call("kexec_load", ctypes.c_ulong(0), ctypes.c_ulong(0), None, ctypes.c_ulong(0))\n`,
  },
  // An empty image: the policy refuses it before the kernel parses it.
  init_module: {
    errno: "EPERM",
    source: `${SYSCALL_NUMBERS}image = ctypes.create_string_buffer(64)\ncall("init_module", image, ctypes.c_ulong(64), b"")\n`,
  },
  // The host's hypervisor sockets, which no network namespace covers.
  "socket(AF_VSOCK)": { errno: "EAFNOSUPPORT", source: SOCKET("socket(AF_VSOCK)", 40) },
  "socket(AF_PACKET)": { errno: "EAFNOSUPPORT", source: SOCKET("socket(AF_PACKET)", 17, 3) },
  "socket(AF_NETLINK)": { errno: "EAFNOSUPPORT", source: SOCKET("socket(AF_NETLINK)", 16, 3) },
};

/** Code that must keep working under the syscall policy: sockets of the allowed families, threads, processes. */
export const ALLOWED_SYSCALLS = `import os, socket, subprocess, threading
pair = socket.socketpair()
pair[0].send(b"x")
assert pair[1].recv(1) == b"x"
socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
print(subprocess.run(["bash", "-c", "echo $(( 6 * 7 ))"], capture_output=True, text=True).stdout.strip())
`;

/** Prints where the secret shows up: the environment, or any /proc/<pid>/environ or cmdline. */
export const FIND_SECRET = (secret: string) => `import os
secret = ${JSON.stringify(secret)}.encode()
for key, value in os.environ.items():
    if secret in value.encode() or secret in key.encode():
        print("environment", key)
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["1"]:
    for name in ("environ", "cmdline"):
        try:
            if secret in open("/proc/%s/%s" % (pid, name), "rb").read():
                print("proc", pid, name)
        except OSError:
            pass
print("done")
`;

export const WRITE_ROOT = `import os
for path in ["/planted", "/etc/planted", "/usr/planted", "/usr/lib/planted", "/var/planted", "/home/planted", "/root/planted", "/opt/planted", "/proc/sys/kernel/hostname"]:
    try:
        with open(path, "w") as handle:
            handle.write("x")
        print("wrote", path)
    except OSError:
        pass
print("done")
`;

/** Leaves traces in every shared place it can, then waits to be looked at. */
export const LEAVE_TRACES = (tag: string) => `import os, socket, subprocess, time
for path in ["/workspace/trace-${tag}", "/tmp/trace-${tag}", "/dev/shm/trace-${tag}"]:
    try:
        open(path, "w").write("${tag}")
    except OSError:
        pass
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("\\0trace-${tag}")
listener.listen(1)
subprocess.Popen(${STRAY})
print("traces left", flush=True)
time.sleep(20)
`;

/** Looks for the traces LEAVE_TRACES left; prints what it finds. */
export const LOOK_FOR_TRACES = (tag: string) => `import os, socket
for path in ["/workspace/trace-${tag}", "/tmp/trace-${tag}", "/dev/shm/trace-${tag}"]:
    if os.path.exists(path):
        print("file", path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\\0trace-${tag}")
    print("socket")
except OSError:
    pass
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        if b"${HOSTILE_MARKER}" in open("/proc/%s/cmdline" % pid, "rb").read():
            print("process", pid)
    except OSError:
        pass
print("done")
`;

export const TERMINAL_INJECTION = `import fcntl, os, termios
for fd in (0, 1, 2):
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        print("injected on", fd)
    except OSError:
        pass
try:
    tty = os.open("/dev/tty", os.O_RDWR)
    fcntl.ioctl(tty, termios.TIOCSTI, b"x")
    print("injected on /dev/tty")
except OSError:
    pass
print("done")
`;

/** Workspace entries that are not regular files with one link: every one must be skipped. */
export const SPECIAL_FILES = `import os, socket
open("real.txt", "w").write("real")
os.symlink("/etc/passwd", "passwd-link")
os.symlink("/", "root-link")
os.symlink("real.txt", "inside-link")
open("hard-a.txt", "w").write("linked")
os.link("hard-a.txt", "hard-b.txt")
os.mkfifo("fifo")
unix = socket.socket(socket.AF_UNIX)
unix.bind("socket")
try:
    os.mknod("device", 0o600 | 0o020000, os.makedev(1, 3))
except OSError:
    pass
os.makedirs("dir")
os.symlink("/etc", "dir/etc-link")
print("planted")
`;

export const SPARSE_FILES = (limitMb: number) => `import os
try:
    with open("huge.bin", "wb") as handle:
        handle.truncate(10 * 2**30)
    print("sparse 10G made")
except OSError as error:
    print("refused", error.strerror)
for index in range(3):
    # Each under the file-size limit, together past the snapshot limit.
    with open("sparse-%d.bin" % index, "wb") as handle:
        handle.truncate(${limitMb} * 2**20 - 4096)
print("done")
`;

export const MANY_FILES = (count: number) => `import os
os.makedirs("many", exist_ok=True)
made = 0
try:
    for index in range(${count}):
        # Empty: data pages would fill a small tmpfs long before 100,000 files.
        os.close(os.open("many/%06d" % index, os.O_CREAT | os.O_WRONLY, 0o644))
        made += 1
except OSError as error:
    print("stopped", error.strerror)
print("made", made)
`;

export const DEEP_TREE = (depth: number) => `import os
for _ in range(${depth}):
    os.mkdir("d")
    os.chdir("d")
open("bottom.txt", "w").write("deep")
print("built")
`;

/** Names a snapshot must survive; non-UTF-8 names are made with bytes. */
export const HOSTILE_NAMES = `import os
names = ["new\\nline.txt", "bidi-\\u202etxt.exe", "x" * 255, "tab\\tand space.txt", "-dash.txt", "émoji-😀.txt"]
for name in names:
    with open(name, "w") as handle:
        handle.write("ok")
for name in (b"bad-\\xff\\xfe.txt", b"bad-\\xfe\\xff.txt", b"bad-dir-\\xff/inside.txt"):
    os.makedirs(os.path.dirname(name) or b".", exist_ok=True)
    with open(name, "wb") as handle:
        handle.write(b"ok")
print(len(os.listdir(".")))
`;

export const COPY_BINARY = `import os
data = open("in/input.bin", "rb").read()
os.makedirs("out", exist_ok=True)
open("out/output.bin", "wb").write(data)
print(len(data))
`;

/** Sends every catchable signal that ends or stops a process to its parent, pid 1 and everything it may signal. */
export const SIGNAL_EVERYONE = `import os, signal
names = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGSTOP", "SIGKILL"]
for name in names:
    for pid in (os.getppid(), 1, -1):
        try:
            os.kill(pid, getattr(signal, name))
        except OSError:
            pass
print("still here")
`;

/** A fork bomb that says when it has started. */
export const ANNOUNCED_FORK_BOMB = `import os
print("bombing", flush=True)
${FORK_BOMB}`;

/** Starts processes and threads: what a fork bomb elsewhere must not prevent. */
export const SPAWN_SOME = `import subprocess, threading
for _ in range(8):
    subprocess.run(["true"], check=True)
threads = [threading.Thread(target=lambda: None) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("spawned")
`;

/** A daemon by the book: fork, setsid, fork again, stdio to /dev/null. */
export const DAEMONISE = `import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execvp("bash", ${STRAY})
    os._exit(0)
os.wait()
# Until the daemon is running, so it has really outlived its parents when the cell ends.
def running():
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            if b"${HOSTILE_MARKER}" in open("/proc/%s/cmdline" % pid, "rb").read():
                return True
        except OSError:
            pass
for _ in range(200):
    if running():
        break
    time.sleep(0.05)
print("daemonised")
`;

/**
 * Leaves a daemon (marked, for the leftover check) that keeps swapping
 * `swap` between a regular file and a link to /etc/passwd, so a snapshot
 * taken meanwhile races it.
 */
export const SWAP_LINKS_DAEMON = `import os
swapper = """
import os, time
deadline = time.time() + 60
while time.time() < deadline:
    try:
        os.symlink("/etc/passwd", "swap-link")
        os.replace("swap-link", "swap")
        with open("swap-file", "w") as handle:
            handle.write("regular")
        os.replace("swap-file", "swap")
    except OSError:
        pass
"""
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execvp("python3", ["${HOSTILE_MARKER}", "-c", swapper])
    os._exit(0)
os.wait()
print("swapping")
`;
