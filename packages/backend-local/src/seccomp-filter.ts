/**
 * The sandbox's syscall policy (core's SYSCALL_POLICY) as the classic BPF
 * program bubblewrap's `--seccomp FD` loads: each denial fails with its
 * errno, argument conditions included; everything else is allowed. Only the
 * native ABI passes: 32-bit and x32 calls fail with EPERM, so they cannot go
 * around the list.
 */
import { ERRNO, type ErrnoName, SYSCALL_NUMBERS, SYSCALL_POLICY, type SyscallDenial } from "@code-interpreter/core";

const ARCHITECTURES: Partial<Record<NodeJS.Architecture, { audit: number; x32Bit?: number; numbers: Readonly<Record<string, number>> }>> = {
  x64: { audit: 0xc000003e, x32Bit: 0x40000000, numbers: SYSCALL_NUMBERS.x86_64 },
  arm64: { audit: 0xc00000b7, numbers: SYSCALL_NUMBERS.aarch64 },
};

// Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
const LOAD_WORD = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JUMP_EQUAL = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JUMP_AT_LEAST = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JUMP_ANY_BIT = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RETURN = 0x06; // BPF_RET | BPF_K
const ALLOW = 0x7fff0000;
const RETURN_ERRNO = 0x00050000;
// struct seccomp_data: nr, arch, instruction pointer, then six 64-bit arguments (little-endian on both architectures).
const NUMBER_OFFSET = 0;
const ARCH_OFFSET = 4;
const argumentLow = (index: number) => 16 + 8 * index;
const argumentHigh = (index: number) => 20 + 8 * index;

/** A jump target: the next instruction (0) or a label placed later in the program. */
type Target = 0 | string;
interface Instruction {
  code: number;
  jumpTrue: Target;
  jumpFalse: Target;
  value: number;
}

/** Whether this machine's architecture has a filter. */
export function seccompSupported(arch: NodeJS.Architecture = process.arch): boolean {
  return ARCHITECTURES[arch] !== undefined;
}

/** The filter for this architecture, or undefined where there is none. */
export function seccompProgram(
  arch: NodeJS.Architecture = process.arch,
  policy: readonly SyscallDenial[] = SYSCALL_POLICY,
): Buffer | undefined {
  const spec = ARCHITECTURES[arch];
  if (!spec) return undefined;
  const program: Instruction[] = [];
  const labels = new Map<string, number>();
  const emit = (code: number, value: number, jumpTrue: Target = 0, jumpFalse: Target = 0) =>
    program.push({ code, jumpTrue, jumpFalse, value });
  const label = (name: string) => labels.set(name, program.length);
  const deny = (errno: ErrnoName) => `deny:${errno}`;

  emit(LOAD_WORD, ARCH_OFFSET);
  emit(JUMP_EQUAL, spec.audit, 0, deny("EPERM"));
  emit(LOAD_WORD, NUMBER_OFFSET);
  if (spec.x32Bit !== undefined) emit(JUMP_AT_LEAST, spec.x32Bit, deny("EPERM"), 0);
  policy.forEach((denial, index) => {
    for (const name of denial.names) {
      const number = spec.numbers[name];
      if (number === undefined) throw new Error(`no ${arch} syscall number for ${name}`);
      emit(JUMP_EQUAL, number, denial.when ? `condition:${index}` : deny(denial.errno), 0);
    }
  });
  emit(RETURN, ALLOW);
  // The argument checks, one block per conditional denial (its syscalls share it).
  policy.forEach((denial, index) => {
    const condition = denial.when;
    if (!condition) return;
    label(`condition:${index}`);
    if (condition.kind === "not-in") {
      // Any high bit makes it a value outside the list.
      emit(LOAD_WORD, argumentHigh(condition.index));
      emit(JUMP_EQUAL, 0, 0, deny(denial.errno));
      emit(LOAD_WORD, argumentLow(condition.index));
      for (const value of condition.values) emit(JUMP_EQUAL, value, `pass:${index}`, 0);
      emit(RETURN, RETURN_ERRNO | ERRNO[denial.errno]);
    } else {
      if (condition.mask > 0xffffffff || condition.mask < 0) throw new Error("any-bit masks are 32-bit");
      emit(LOAD_WORD, argumentLow(condition.index));
      emit(JUMP_ANY_BIT, condition.mask, deny(denial.errno), `pass:${index}`);
    }
    // Jumps only go forward, so each block ends in an allow of its own.
    label(`pass:${index}`);
    emit(RETURN, ALLOW);
  });
  for (const errno of new Set<ErrnoName>(["EPERM", ...policy.map((denial) => denial.errno)])) {
    label(deny(errno));
    emit(RETURN, RETURN_ERRNO | ERRNO[errno]);
  }
  return assemble(program, labels);
}

/** Resolves labels into forward jump offsets and encodes each `struct sock_filter`. */
function assemble(program: Instruction[], labels: Map<string, number>): Buffer {
  const offset = (target: Target, at: number): number => {
    if (target === 0) return 0;
    const position = labels.get(target);
    if (position === undefined || position <= at) throw new Error(`seccomp filter: no label ${target} after ${at}`);
    const distance = position - at - 1;
    if (distance > 255) throw new Error(`seccomp filter: jump to ${target} is too long`);
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
