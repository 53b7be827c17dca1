import { type OciSeccompProfile, SYSCALL_NUMBERS } from "./syscall-policy.js";

/** Architectures whose syscall numbers core knows, by their kernel names. */
export type SeccompArchitecture = keyof typeof SYSCALL_NUMBERS;

const ARCHITECTURES: Record<SeccompArchitecture, { audit: number; scmp: string; x32Bit?: number }> = {
  x86_64: { audit: 0xc000003e, scmp: "SCMP_ARCH_X86_64", x32Bit: 0x40000000 },
  aarch64: { audit: 0xc00000b7, scmp: "SCMP_ARCH_AARCH64" },
};

// Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
const LOAD_WORD = 0x20; // BPF_LD | BPF_W | BPF_ABS
const AND = 0x54; // BPF_ALU | BPF_AND | BPF_K
const JUMP_EQUAL = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JUMP_GREATER = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JUMP_AT_LEAST = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RETURN = 0x06; // BPF_RET | BPF_K
const ALLOW = 0x7fff0000;
const RETURN_ERRNO = 0x00050000;
const EPERM = 1;
// struct seccomp_data: nr, arch, instruction pointer, then six 64-bit arguments (little-endian on both architectures).
const NUMBER_OFFSET = 0;
const ARCH_OFFSET = 4;
const argumentLow = (index: number) => 16 + 8 * index;
const argumentHigh = (index: number) => 20 + 8 * index;

type Rule = OciSeccompProfile["syscalls"][number];
/** A jump target: the next instruction (0) or a label placed later in the program. */
type Target = 0 | string;
interface Instruction {
  code: number;
  jumpTrue: Target;
  jumpFalse: Target;
  value: number;
}

/**
 * An OCI seccomp profile (the subset ociSeccompProfile writes: allow by
 * default, SCMP_ACT_ERRNO rules, EQ/GT/MASKED_EQ conditions) as the classic
 * BPF program bubblewrap's `--seccomp FD` loads, so a sandbox without an OCI
 * runtime gets the same filter. As libseccomp does, a rule's conditions are
 * ANDed, a syscall's rules tried in order, and only the native ABI passes:
 * 32-bit and x32 calls fail with EPERM. Anything outside that subset, or a
 * syscall core has no number for, is refused with an error.
 */
export function seccompBpf(profile: OciSeccompProfile, arch: SeccompArchitecture): Buffer {
  const spec = ARCHITECTURES[arch];
  if (profile.defaultAction !== "SCMP_ACT_ALLOW") throw new Error(`seccomp profile: only defaultAction SCMP_ACT_ALLOW is supported`);
  if (!profile.architectures.includes(spec.scmp)) throw new Error(`seccomp profile: it does not cover ${spec.scmp}`);
  // The rules of each syscall, in profile order; syscalls with the same rules share one block.
  const rulesOf = new Map<number, Rule[]>();
  // As runc reads a profile: errnoRet defaults to EPERM, args to none.
  const normalised = profile.syscalls.map((rule) => ({ ...rule, errnoRet: rule.errnoRet ?? EPERM, args: rule.args ?? [] }));
  for (const rule of normalised) {
    if (rule.action !== "SCMP_ACT_ERRNO") throw new Error(`seccomp profile: only SCMP_ACT_ERRNO rules are supported, not ${rule.action}`);
    for (const name of rule.names) {
      const number = SYSCALL_NUMBERS[arch][name];
      if (number === undefined) throw new Error(`seccomp profile: no ${arch} syscall number for ${name}`);
      rulesOf.set(number, [...(rulesOf.get(number) ?? []), rule]);
    }
  }
  const blocks = new Map<string, Rule[]>();
  const blockOf = new Map<number, string>();
  for (const [number, rules] of rulesOf) {
    const key = JSON.stringify(rules.map((rule) => [rule.errnoRet, rule.args]));
    blocks.set(key, rules);
    blockOf.set(number, key);
  }
  const blockLabel = (key: string) => `block:${[...blocks.keys()].indexOf(key)}`;
  const denyLabel = (errno: number) => `deny:${errno}`;
  // An unconditional first rule decides the call: jump straight to its errno.
  const direct = (rules: Rule[]) => (rules[0]?.args.length === 0 ? rules[0].errnoRet : undefined);

  const program: Instruction[] = [];
  const labels = new Map<string, number>();
  const emit = (code: number, value: number, jumpTrue: Target = 0, jumpFalse: Target = 0) =>
    program.push({ code, jumpTrue, jumpFalse, value });
  const label = (name: string) => labels.set(name, program.length);

  emit(LOAD_WORD, ARCH_OFFSET);
  emit(JUMP_EQUAL, spec.audit, 0, denyLabel(EPERM));
  emit(LOAD_WORD, NUMBER_OFFSET);
  if (spec.x32Bit !== undefined) emit(JUMP_AT_LEAST, spec.x32Bit, denyLabel(EPERM), 0);
  for (const [number, key] of blockOf) {
    const errno = direct(blocks.get(key) ?? []);
    emit(JUMP_EQUAL, number, errno === undefined ? blockLabel(key) : denyLabel(errno), 0);
  }
  emit(RETURN, ALLOW);
  const errnos = new Set([EPERM, ...normalised.map((rule) => rule.errnoRet)]);
  for (const errno of errnos) {
    label(denyLabel(errno));
    emit(RETURN, RETURN_ERRNO | errno);
  }
  [...blocks.entries()].forEach(([key, rules], blockIndex) => {
    if (direct(rules) !== undefined) return;
    label(blockLabel(key));
    rules.forEach((rule, ruleIndex) => {
      const next = `rule:${blockIndex}:${ruleIndex + 1}`;
      rule.args.forEach((condition, conditionIndex) => {
        const holds = `condition:${blockIndex}:${ruleIndex}:${conditionIndex}`;
        const high = Math.floor(condition.value / 2 ** 32);
        const low = condition.value >>> 0;
        emit(LOAD_WORD, argumentHigh(condition.index));
        if (condition.op === "SCMP_CMP_EQ") {
          emit(JUMP_EQUAL, high, 0, next);
          emit(LOAD_WORD, argumentLow(condition.index));
          emit(JUMP_EQUAL, low, holds, next);
        } else if (condition.op === "SCMP_CMP_GT") {
          emit(JUMP_GREATER, high, holds, 0);
          emit(JUMP_EQUAL, high, 0, next);
          emit(LOAD_WORD, argumentLow(condition.index));
          emit(JUMP_GREATER, low, holds, next);
        } else if (condition.op === "SCMP_CMP_MASKED_EQ") {
          emit(AND, Math.floor(condition.value / 2 ** 32));
          emit(JUMP_EQUAL, Math.floor(condition.valueTwo / 2 ** 32), 0, next);
          emit(LOAD_WORD, argumentLow(condition.index));
          emit(AND, low);
          emit(JUMP_EQUAL, condition.valueTwo >>> 0, holds, next);
        } else {
          throw new Error(`seccomp profile: unsupported comparison ${condition.op}`);
        }
        label(holds);
      });
      emit(RETURN, RETURN_ERRNO | rule.errnoRet);
      label(next);
    });
    emit(RETURN, ALLOW);
  });
  return assemble(program, labels);
}

/** Resolves labels into forward jump offsets and encodes each `struct sock_filter`. */
function assemble(program: Instruction[], labels: Map<string, number>): Buffer {
  const offset = (target: Target, at: number): number => {
    if (target === 0) return 0;
    const position = labels.get(target);
    if (position === undefined || position <= at) throw new Error(`seccomp filter: no label ${target} after ${at}`);
    const distance = position - at - 1;
    if (distance > 255) throw new Error(`seccomp filter: the jump to ${target} is too long`);
    return distance;
  };
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((instruction, index) => {
    bytes.writeUInt16LE(instruction.code, index * 8);
    bytes.writeUInt8(offset(instruction.jumpTrue, index), index * 8 + 2);
    bytes.writeUInt8(offset(instruction.jumpFalse, index), index * 8 + 3);
    bytes.writeUInt32LE(instruction.value >>> 0, index * 8 + 4);
  });
  return bytes;
}
