import type { OciSeccompProfile } from "../policy/syscall-policy.js";

/** One system call as a seccomp filter sees it: its number, the audit architecture and up to six arguments. */
export interface SeccompCall {
  nr: number;
  arch: number;
  args?: bigint[];
}

/**
 * Runs a classic BPF seccomp program (as bubblewrap's `--seccomp` loads it) on one
 * call, as the kernel would, and returns the action it decides (e.g. 0x7fff0000 allow,
 * 0x0005xxxx errno). Knows the instructions seccomp filters are made of; any other
 * opcode throws, so a filter that needs more is noticed rather than misjudged.
 */
export function seccompVerdict(program: Buffer, call: SeccompCall): number {
  const data = Buffer.alloc(64);
  data.writeUInt32LE(call.nr, 0);
  data.writeUInt32LE(call.arch, 4);
  for (const [index, value] of (call.args ?? []).entries()) data.writeBigUInt64LE(value, 16 + 8 * index);
  let accumulator = 0;
  for (let pc = 0; pc < program.length / 8; pc++) {
    const code = program.readUInt16LE(pc * 8);
    const jumpTrue = program.readUInt8(pc * 8 + 2);
    const jumpFalse = program.readUInt8(pc * 8 + 3);
    const value = program.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) accumulator = data.readUInt32LE(value);
    else if (code === 0x54) accumulator = (accumulator & value) >>> 0;
    else if (code === 0x06) return value;
    else if (code === 0x15) pc += accumulator === value ? jumpTrue : jumpFalse;
    else if (code === 0x25) pc += accumulator > value ? jumpTrue : jumpFalse;
    else if (code === 0x35) pc += accumulator >= value ? jumpTrue : jumpFalse;
    else if (code === 0x45) pc += (accumulator & value) !== 0 ? jumpTrue : jumpFalse;
    else throw new Error(`unexpected opcode ${code}`);
  }
  throw new Error("ran off the end of the program");
}

/**
 * The errno an OCI runtime's filter made from `profile` returns for this call,
 * as libseccomp reads it: the first rule for the call whose conditions all
 * hold decides (conditions ANDed); `undefined` when none does (the call is allowed).
 */
export function ociSeccompErrno(profile: OciSeccompProfile, name: string, args: bigint[]): number | undefined {
  for (const rule of profile.syscalls) {
    if (!rule.names.includes(name)) continue;
    const holds = rule.args.every((condition) => {
      const value = args[condition.index] ?? 0n;
      if (condition.op === "SCMP_CMP_EQ") return value === BigInt(condition.value);
      if (condition.op === "SCMP_CMP_GT") return value > BigInt(condition.value);
      return (value & BigInt(condition.value)) === BigInt(condition.valueTwo);
    });
    if (holds) return rule.errnoRet;
  }
  return undefined;
}
