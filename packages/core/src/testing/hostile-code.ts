/**
 * The Python (and bash) programs the hostile suite runs in the sandbox, read
 * from testing/hostile/*.py (where the Python linter reads them too). Each
 * prints a short verdict the suite checks, so a failure shows what happened.
 */
import { randomBytes } from "node:crypto";
import { hostileProgram as program } from "./hostile-programs.js";

/**
 * argv[0] of processes the hostile code leaves running, so a test can look for them on the host.
 * Its suffix is this test process's own: suites running side by side (scripts/test.sh runs two
 * lanes at once) each find only their own strays among the host's processes.
 */
export const HOSTILE_MARKER = `code-interpreter-hostile-stray-${randomBytes(4).toString("hex")}`;
const marker = HOSTILE_MARKER;

export const FORK_BOMB = program("fork_bomb");
export const THREAD_BOMB = program("thread_bomb");
export const MEMORY_BOMB = (megabytes: number) => program("memory_bomb", { megabytes });
export const CPU_SPIN = program("cpu_spin");
export const STALLS = program("stalls");
export const BLOCKING_INPUT = program("blocking_input");

/**
 * Writes 1 MiB files until the filesystem says no (many files, so a per-file
 * size limit is not what stops it); prints the errno name and whether the
 * total stayed within `limitMb`.
 */
export const FILL_DISK = (directory: string, limitMb: number, keep: boolean) =>
  program("fill_disk", { directory, limit_mb: limitMb, keep });

/** Makes empty files until the filesystem runs out of inodes, or gives up after `most`. */
export const FILL_INODES = (directory: string, most: number) => program("fill_inodes", { directory, most });

export const FD_EXHAUSTION = program("fd_exhaustion");

/** Floods one stream with `megabytes` of output: lines, one long line, or binary bytes. */
export const FLOOD = (stream: 1 | 2, kind: "lines" | "no-newlines" | "binary", megabytes: number) =>
  program("flood", { stream, kind, megabytes });

export const STOP_OWN_GROUP = program("stop_own_group");

/** Leaves a zombie, an orphan and a daemon (double fork, setsid) that keeps stdout open, then exits. */
export const ORPHANS_AND_DAEMONS = program("orphans_and_daemons", { marker });

export const CHILD_HOLDS_PIPE = program("child_holds_pipe", { marker });

/** Tries to connect to each address; prints `host port blocked|connected`. */
export const CONNECT = (targets: readonly (readonly [string, number])[]) => program("connect", { targets });

export const DNS_LOOKUP = program("dns_lookup");
export const ENGINE_SOCKETS = program("engine_sockets");

/** Prints `name value` for the status fields the suite checks. */
export const PRIVILEGES = program("privileges");

/**
 * Each tries one dangerous syscall (or family) and prints `name allowed|<errno>`:
 * the sandbox's syscall policy (core's SYSCALL_POLICY) refuses every one with
 * `errno`, which the kernel's own checks would not give (EFAULT, EINVAL,
 * ENOSYS, EACCES), so a pass shows the policy and not a privilege check.
 */
export const DANGEROUS_SYSCALLS: Record<string, { errno: string; source: string }> = {
  mount: { errno: "EPERM", source: program("syscall_mount") },
  // CLONE_NEWUSER | CLONE_NEWNS: a fresh user namespace would hand the code every capability inside it.
  unshare: { errno: "EPERM", source: program("syscall_unshare") },
  // clone(CLONE_NEWUSER | SIGCHLD) with no stack, as fork does: a child, if one is made, leaves at once.
  "clone(CLONE_NEWUSER)": { errno: "EPERM", source: program("syscall_clone_newuser") },
  // PTRACE_ATTACH to the process that started the code (the runner), which is not its descendant.
  ptrace: { errno: "EPERM", source: program("syscall_ptrace_attach", { label: "ptrace", target: "parent" }) },
  // The sandbox's pid 1: a session's init, a one-shot sandbox's runner.
  "ptrace(pid 1)": { errno: "EPERM", source: program("syscall_ptrace_attach", { label: "ptrace(pid 1)", target: "init" }) },
  // A sibling: another child of the code, traced by its brother (not its ancestor).
  "ptrace(sibling)": { errno: "EPERM", source: program("syscall_ptrace_sibling") },
  // Reads a page of the runner's memory.
  process_vm_readv: { errno: "EPERM", source: program("syscall_process_vm_readv") },
  // KEYCTL_JOIN_SESSION_KEYRING: the kernel keyring is not namespaced.
  keyctl: { errno: "EPERM", source: program("syscall_keyctl") },
  add_key: { errno: "EPERM", source: program("syscall_add_key") },
  // BPF_MAP_CREATE with an empty attribute block.
  bpf: { errno: "EPERM", source: program("syscall_bpf") },
  // Four entries; the kernel fills the parameter block.
  io_uring_setup: { errno: "EPERM", source: program("syscall_io_uring_setup") },
  userfaultfd: { errno: "EPERM", source: program("syscall_userfaultfd") },
  // A software clock counter on this process, any CPU (perf_event_attr: type, size, config).
  perf_event_open: { errno: "EPERM", source: program("syscall_perf_event_open") },
  // No segments: harmless if it were let through, refused before any privilege check by the policy.
  kexec_load: { errno: "EPERM", source: program("syscall_kexec_load") },
  // An empty image: the policy refuses it before the kernel parses it.
  init_module: { errno: "EPERM", source: program("syscall_init_module") },
  // The host's hypervisor sockets, which no network namespace covers.
  "socket(AF_VSOCK)": {
    errno: "EAFNOSUPPORT",
    source: program("syscall_socket", { label: "socket(AF_VSOCK)", family: 40, socket_type: 1 }),
  },
  "socket(AF_PACKET)": {
    errno: "EAFNOSUPPORT",
    source: program("syscall_socket", { label: "socket(AF_PACKET)", family: 17, socket_type: 3 }),
  },
  "socket(AF_NETLINK)": {
    errno: "EAFNOSUPPORT",
    source: program("syscall_socket", { label: "socket(AF_NETLINK)", family: 16, socket_type: 3 }),
  },
};

/** Code that must keep working under the syscall policy: sockets of the allowed families, threads, processes. */
export const ALLOWED_SYSCALLS = program("allowed_syscalls");

/** Prints where the secret shows up: the environment, or any /proc/<pid>/environ or cmdline. */
export const FIND_SECRET = (secret: string) => program("find_secret", { secret });

export const WRITE_ROOT = program("write_root");

/** Leaves traces in every shared place it can, then waits to be looked at. */
export const LEAVE_TRACES = (tag: string) => program("leave_traces", { tag, marker });

/** Looks for the traces LEAVE_TRACES left; prints what it finds. */
export const LOOK_FOR_TRACES = (tag: string) => program("look_for_traces", { tag, marker });

export const TERMINAL_INJECTION = program("terminal_injection");

/** Workspace entries that are not regular files with one link: every one must be skipped. */
export const SPECIAL_FILES = program("special_files");

export const SPARSE_FILES = (limitMb: number) => program("sparse_files", { limit_mb: limitMb });
export const MANY_FILES = (count: number) => program("many_files", { count });
export const DEEP_TREE = (depth: number) => program("deep_tree", { depth });

/** Names a snapshot must survive; non-UTF-8 names are made with bytes. */
export const HOSTILE_NAMES = program("hostile_names");

export const COPY_BINARY = program("copy_binary");

/** Sends every catchable signal that ends or stops a process to its parent, pid 1 and everything it may signal. */
export const SIGNAL_EVERYONE = program("signal_everyone");

/** A fork bomb that says when it has started. */
export const ANNOUNCED_FORK_BOMB = program("announced_fork_bomb");

/** Starts processes and threads: what a fork bomb elsewhere must not prevent. */
export const SPAWN_SOME = program("spawn_some");

/** A daemon by the book: fork, setsid, fork again, stdio to /dev/null. */
export const DAEMONISE = program("daemonise", { marker });

/**
 * Leaves a daemon (marked, for the leftover check) that keeps swapping
 * `swap` between a regular file and a link to /etc/passwd, so a snapshot
 * taken meanwhile races it.
 */
export const SWAP_LINKS_DAEMON = program("swap_links_daemon", { marker });
