/**
 * The sandbox's syscall policy, declared once: every backend turns it into
 * its own form (backend-local a classic BPF program for bubblewrap, the
 * Docker and Kubernetes backends the OCI seccomp profile below). Everything
 * not listed is allowed: the list names kernel surface that code never
 * needs and attackers reach for.
 */

/** errno values a denial returns; the same numbers on x86_64 and aarch64. */
export const ERRNO = { EPERM: 1, ENOSYS: 38, EAFNOSUPPORT: 97 } as const;
export type ErrnoName = keyof typeof ERRNO;

/** Address families a socket may use. The network namespace leaves INET and INET6 only loopback (or nothing). */
export const ALLOWED_SOCKET_FAMILIES = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10 } as const;

/**
 * clone(2) flags that create namespaces (NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
 * NEWUSER, NEWPID, NEWNET). CLONE_NEWTIME is left out: clone(2) cannot take it
 * (its bit is part of the exit signal there).
 */
export const NAMESPACE_CLONE_FLAGS = 0x7e020000;

/**
 * When a denial applies, by one argument of the call (64-bit, as seccomp sees
 * it): `not-in` when the argument is none of `values`; `any-bit` when it has
 * any bit of `mask`.
 */
export type ArgumentCondition =
  | { kind: "not-in"; index: number; values: readonly number[] }
  | { kind: "any-bit"; index: number; mask: number };

export interface SyscallDenial {
  /** Syscalls this denial covers, by their kernel names. */
  names: readonly string[];
  /** What the call fails with. */
  errno: ErrnoName;
  /** Denied only when this holds; always when absent. */
  when?: ArgumentCondition;
  /** Why code is refused it, for the README and reviews. */
  why: string;
}

/** The sandbox's syscall policy: every call is allowed but these. */
export const SYSCALL_POLICY: readonly SyscallDenial[] = [
  {
    names: ["socket", "socketpair"],
    errno: "EAFNOSUPPORT",
    when: { kind: "not-in", index: 0, values: Object.values(ALLOWED_SOCKET_FAMILIES) },
    why: "address families no network namespace covers (AF_VSOCK reaches the hypervisor, AF_NETLINK, AF_PACKET, AF_BLUETOOTH, …)",
  },
  {
    names: ["io_uring_setup", "io_uring_enter", "io_uring_register"],
    errno: "EPERM",
    why: "io_uring: a large kernel surface behind many recent CVEs",
  },
  { names: ["bpf"], errno: "EPERM", why: "eBPF programs and maps" },
  { names: ["userfaultfd"], errno: "EPERM", why: "stalls kernel page faults at will, a staple of kernel exploits" },
  { names: ["perf_event_open"], errno: "EPERM", why: "performance counters: side channels and a history of kernel bugs" },
  { names: ["keyctl", "add_key", "request_key"], errno: "EPERM", why: "the kernel keyrings are not namespaced" },
  {
    names: ["ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise", "kcmp"],
    errno: "EPERM",
    why: "reading, writing or stealing from other processes, the sandbox's own runner and init included",
  },
  { names: ["kexec_load", "kexec_file_load", "reboot"], errno: "EPERM", why: "replacing or stopping the kernel" },
  { names: ["init_module", "finit_module", "delete_module"], errno: "EPERM", why: "kernel modules" },
  {
    names: ["mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"],
    errno: "EPERM",
    why: "mounts: code never has a user namespace of its own to mount in",
  },
  { names: ["unshare", "setns"], errno: "EPERM", why: "namespaces: a new user namespace hands code every capability inside it" },
  {
    names: ["clone"],
    errno: "EPERM",
    when: { kind: "any-bit", index: 0, mask: NAMESPACE_CLONE_FLAGS },
    why: "namespaces, by clone's flags (threads and processes are unaffected)",
  },
  {
    names: ["clone3"],
    errno: "ENOSYS",
    why: "its flags lie in memory no filter can read; ENOSYS makes the C library fall back to clone, whose flags are checked",
  },
  { names: ["open_by_handle_at", "name_to_handle_at"], errno: "EPERM", why: "opening files by handle goes around the mount namespace" },
  {
    names: ["swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "vhangup", "lookup_dcookie", "nfsservctl"],
    errno: "EPERM",
    why: "host administration",
  },
  { names: ["settimeofday", "clock_settime", "adjtimex", "clock_adjtime"], errno: "EPERM", why: "the host's clock" },
];

/**
 * The policy as a gVisor sandbox loads it (runsc `--oci-seccomp`, applied by
 * gVisor's own kernel): without the clone3 rule. runsc 20221219 has no clone3
 * (it answers ENOSYS itself), but with the rule loaded no thread can start in
 * the sandbox (glibc's fallback to clone then fails too), so Python's
 * threading and OpenBLAS would break. clone's namespace flags stay refused.
 */
export const GVISOR_SYSCALL_POLICY: readonly SyscallDenial[] = SYSCALL_POLICY.filter((denial) => !denial.names.includes("clone3"));

/** Every syscall the policy names, in policy order. */
export function policySyscalls(policy: readonly SyscallDenial[] = SYSCALL_POLICY): string[] {
  return policy.flatMap((denial) => denial.names);
}

/**
 * Syscall numbers of the native ABIs the policy knows (from the kernel's
 * unistd headers). Other architectures get no BPF filter; the OCI profile
 * names syscalls, which the runtime's libseccomp resolves for its own.
 */
export const SYSCALL_NUMBERS: Readonly<Record<"x86_64" | "aarch64", Readonly<Record<string, number>>>> = {
  x86_64: {
    socket: 41,
    socketpair: 53,
    clone: 56,
    clone3: 435,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    bpf: 321,
    userfaultfd: 323,
    perf_event_open: 298,
    keyctl: 250,
    add_key: 248,
    request_key: 249,
    ptrace: 101,
    process_vm_readv: 310,
    process_vm_writev: 311,
    pidfd_getfd: 438,
    process_madvise: 440,
    kcmp: 312,
    kexec_load: 246,
    kexec_file_load: 320,
    reboot: 169,
    init_module: 175,
    finit_module: 313,
    delete_module: 176,
    mount: 165,
    umount2: 166,
    pivot_root: 155,
    move_mount: 429,
    open_tree: 428,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    unshare: 272,
    setns: 308,
    open_by_handle_at: 304,
    name_to_handle_at: 303,
    swapon: 167,
    swapoff: 168,
    acct: 163,
    quotactl: 179,
    quotactl_fd: 443,
    syslog: 103,
    vhangup: 153,
    lookup_dcookie: 212,
    nfsservctl: 180,
    settimeofday: 164,
    clock_settime: 227,
    adjtimex: 159,
    clock_adjtime: 305,
  },
  aarch64: {
    socket: 198,
    socketpair: 199,
    clone: 220,
    clone3: 435,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    bpf: 280,
    userfaultfd: 282,
    perf_event_open: 241,
    keyctl: 219,
    add_key: 217,
    request_key: 218,
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    pidfd_getfd: 438,
    process_madvise: 440,
    kcmp: 272,
    kexec_load: 104,
    kexec_file_load: 294,
    reboot: 142,
    init_module: 105,
    finit_module: 273,
    delete_module: 106,
    mount: 40,
    umount2: 39,
    pivot_root: 41,
    move_mount: 429,
    open_tree: 428,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    unshare: 97,
    setns: 268,
    open_by_handle_at: 265,
    name_to_handle_at: 264,
    swapon: 224,
    swapoff: 225,
    acct: 89,
    quotactl: 60,
    quotactl_fd: 443,
    syslog: 116,
    vhangup: 58,
    lookup_dcookie: 18,
    nfsservctl: 42,
    settimeofday: 170,
    clock_settime: 112,
    adjtimex: 171,
    clock_adjtime: 266,
  },
};

/** A seccomp profile in the OCI / Docker JSON format (what `docker --security-opt seccomp=` and a kubelet's Localhost profiles read). */
export interface OciSeccompProfile {
  defaultAction: "SCMP_ACT_ALLOW";
  architectures: string[];
  syscalls: {
    names: string[];
    action: "SCMP_ACT_ERRNO";
    errnoRet: number;
    args: { index: number; value: number; valueTwo: number; op: "SCMP_CMP_EQ" | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ" }[];
    comment: string;
  }[];
}

/**
 * The policy as an OCI seccomp profile: allow by default, each denial an
 * SCMP_ACT_ERRNO rule. Conditions are ANDed within a rule and one argument
 * may appear only once in it, so `not-in` becomes one rule per refused value
 * below the largest allowed one plus one for everything above it, and
 * `any-bit` one rule per bit. Only the listed native ABIs are admitted: the
 * 32-bit and x32 ABIs get the runtime's bad-architecture action.
 */
export function ociSeccompProfile(policy: readonly SyscallDenial[] = SYSCALL_POLICY): OciSeccompProfile {
  const syscalls: OciSeccompProfile["syscalls"] = [];
  for (const denial of policy) {
    const rule = { names: [...denial.names], action: "SCMP_ACT_ERRNO" as const, errnoRet: ERRNO[denial.errno], comment: denial.why };
    const condition = denial.when;
    if (!condition) {
      syscalls.push({ ...rule, args: [] });
    } else if (condition.kind === "not-in") {
      const highest = Math.max(...condition.values);
      for (let value = 0; value < highest; value++) {
        if (condition.values.includes(value)) continue;
        syscalls.push({ ...rule, args: [{ index: condition.index, value, valueTwo: 0, op: "SCMP_CMP_EQ" }] });
      }
      syscalls.push({ ...rule, args: [{ index: condition.index, value: highest, valueTwo: 0, op: "SCMP_CMP_GT" }] });
    } else {
      for (const bit of maskBits(condition.mask)) {
        syscalls.push({ ...rule, args: [{ index: condition.index, value: bit, valueTwo: bit, op: "SCMP_CMP_MASKED_EQ" }] });
      }
    }
  }
  return { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"], syscalls };
}

/** The profile as the text of deploy/seccomp/code-interpreter.json (and of Docker's `seccomp=` option). */
export function ociSeccompProfileJson(policy: readonly SyscallDenial[] = SYSCALL_POLICY): string {
  return `${JSON.stringify(ociSeccompProfile(policy), null, 2)}\n`;
}

/** The single bits of a 32-bit mask, lowest first. */
function maskBits(mask: number): number[] {
  const bits: number[] = [];
  for (let bit = 0; bit < 32; bit++) if ((mask >>> bit) & 1) bits.push(2 ** bit);
  return bits;
}
