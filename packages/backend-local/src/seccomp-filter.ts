/**
 * A seccomp filter for the sandbox, as the classic BPF program bubblewrap's
 * `--seccomp FD` loads: syscalls that reach kernel surface code never needs
 * (keyrings, eBPF, modules, mounts, namespaces, tracing other processes,
 * io_uring, the clock) fail with EPERM; everything else is allowed. Only
 * the native ABI passes (no 32-bit or x32 calls around the list).
 */

/** Syscalls refused, by name; the numbers per architecture are below. */
const DENIED = [
  "keyctl",
  "add_key",
  "request_key",
  "bpf",
  "perf_event_open",
  "userfaultfd",
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "mount",
  "umount2",
  "pivot_root",
  "fsopen",
  "fsconfig",
  "fsmount",
  "move_mount",
  "open_tree",
  "fspick",
  "mount_setattr",
  "swapon",
  "swapoff",
  "reboot",
  "setns",
  "unshare",
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "open_by_handle_at",
  "name_to_handle_at",
  "acct",
  "quotactl",
  "syslog",
  "settimeofday",
  "clock_settime",
  "adjtimex",
  "clock_adjtime",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "vhangup",
  "lookup_dcookie",
] as const;

type Denied = (typeof DENIED)[number];

// The new mount API and io_uring have the same numbers everywhere.
const COMMON = {
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  move_mount: 429,
  open_tree: 428,
  fspick: 433,
  mount_setattr: 442,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
};

const ARCHITECTURES: Partial<Record<NodeJS.Architecture, { audit: number; x32Bit?: number; numbers: Record<Denied, number> }>> = {
  x64: {
    audit: 0xc000003e,
    x32Bit: 0x40000000,
    numbers: {
      ...COMMON,
      keyctl: 250,
      add_key: 248,
      request_key: 249,
      bpf: 321,
      perf_event_open: 298,
      userfaultfd: 323,
      kexec_load: 246,
      kexec_file_load: 320,
      init_module: 175,
      finit_module: 313,
      delete_module: 176,
      mount: 165,
      umount2: 166,
      pivot_root: 155,
      swapon: 167,
      swapoff: 168,
      reboot: 169,
      setns: 308,
      unshare: 272,
      ptrace: 101,
      process_vm_readv: 310,
      process_vm_writev: 311,
      open_by_handle_at: 304,
      name_to_handle_at: 303,
      acct: 163,
      quotactl: 179,
      syslog: 103,
      settimeofday: 164,
      clock_settime: 227,
      adjtimex: 159,
      clock_adjtime: 305,
      vhangup: 153,
      lookup_dcookie: 212,
    },
  },
  arm64: {
    audit: 0xc00000b7,
    numbers: {
      ...COMMON,
      keyctl: 219,
      add_key: 217,
      request_key: 218,
      bpf: 280,
      perf_event_open: 241,
      userfaultfd: 282,
      kexec_load: 104,
      kexec_file_load: 294,
      init_module: 105,
      finit_module: 273,
      delete_module: 106,
      mount: 40,
      umount2: 39,
      pivot_root: 41,
      swapon: 224,
      swapoff: 225,
      reboot: 142,
      setns: 268,
      unshare: 97,
      ptrace: 117,
      process_vm_readv: 270,
      process_vm_writev: 271,
      open_by_handle_at: 265,
      name_to_handle_at: 264,
      acct: 89,
      quotactl: 60,
      syslog: 116,
      settimeofday: 170,
      clock_settime: 112,
      adjtimex: 171,
      clock_adjtime: 266,
      vhangup: 58,
      lookup_dcookie: 18,
    },
  },
};

// Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
const LOAD_WORD = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JUMP_EQUAL = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JUMP_AT_LEAST = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RETURN = 0x06; // BPF_RET | BPF_K
const ALLOW = 0x7fff0000;
const EPERM = 0x00050000 | 1;
const NUMBER_OFFSET = 0;
const ARCH_OFFSET = 4;

/** Whether this machine's architecture has a filter. */
export function seccompSupported(arch: NodeJS.Architecture = process.arch): boolean {
  return ARCHITECTURES[arch] !== undefined;
}

/** The filter for this architecture, or undefined where there is none. */
export function seccompProgram(arch: NodeJS.Architecture = process.arch): Buffer | undefined {
  const spec = ARCHITECTURES[arch];
  if (!spec) return undefined;
  type Instruction = [code: number, jumpTrue: number, jumpFalse: number, value: number];
  const numbers = DENIED.map((name) => spec.numbers[name]);
  // Laid out as: arch check, number load, [x32 check], one comparison per syscall, allow, deny.
  const comparisons = numbers.length + (spec.x32Bit === undefined ? 0 : 1);
  const program: Instruction[] = [
    [LOAD_WORD, 0, 0, ARCH_OFFSET],
    // Another ABI: straight to deny (skips the number load, the comparisons and allow).
    [JUMP_EQUAL, 0, comparisons + 2, spec.audit],
    [LOAD_WORD, 0, 0, NUMBER_OFFSET],
  ];
  if (spec.x32Bit !== undefined) program.push([JUMP_AT_LEAST, comparisons, 0, spec.x32Bit]);
  numbers.forEach((number, index) => {
    const remaining = numbers.length - index - 1;
    program.push([JUMP_EQUAL, remaining + 1, 0, number]);
  });
  program.push([RETURN, 0, 0, ALLOW], [RETURN, 0, 0, EPERM]);
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach(([code, jumpTrue, jumpFalse, value], index) => {
    bytes.writeUInt16LE(code, index * 8);
    bytes.writeUInt8(jumpTrue, index * 8 + 2);
    bytes.writeUInt8(jumpFalse, index * 8 + 3);
    bytes.writeUInt32LE(value, index * 8 + 4);
  });
  return bytes;
}
