import { ERRNO, SYSCALL_NUMBERS, SYSCALL_POLICY } from "@code-interpreter/core/policy";
import { seccompVerdict } from "@code-interpreter/core/testing";
import { describe, expect, it } from "vitest";
import { seccompProgram, seccompSupported } from "./seccomp-filter.js";

const ALLOW = 0x7fff0000;
const errno = (value: number) => 0x00050000 | value;
const AUDIT = { x64: 0xc000003e, arm64: 0xc00000b7 } as const;

describe("seccomp filter", () => {
  for (const [arch, table] of [
    ["x64", SYSCALL_NUMBERS.x86_64],
    ["arm64", SYSCALL_NUMBERS.aarch64],
  ] as const) {
    describe(`on ${arch}`, () => {
      const program = seccompProgram(arch) as Buffer;
      const run = (name: string, args: bigint[] = []) => seccompVerdict(program, { nr: table[name] as number, arch: AUDIT[arch], args });

      it("refuses every unconditional denial of the policy with its errno", () => {
        for (const denial of SYSCALL_POLICY.filter((candidate) => !candidate.when)) {
          for (const name of denial.names) expect(run(name), name).toBe(errno(ERRNO[denial.errno]));
        }
      });

      it("allows sockets of AF_UNIX, AF_INET and AF_INET6 only", () => {
        for (const family of [1n, 2n, 10n]) expect(run("socket", [family, 1n])).toBe(ALLOW);
        for (const family of [0n, 3n, 16n, 17n, 40n, 0x1_0000_0002n]) {
          expect(run("socket", [family, 1n]), String(family)).toBe(errno(ERRNO.EAFNOSUPPORT));
          expect(run("socketpair", [family, 1n]), String(family)).toBe(errno(ERRNO.EAFNOSUPPORT));
        }
      });

      it("allows clone for threads and processes, not for namespaces", () => {
        expect(run("clone", [0x01200011n])).toBe(ALLOW);
        expect(run("clone", [0x003d0f00n])).toBe(ALLOW);
        for (const flag of [0x00020000n, 0x10000000n, 0x20000000n, 0x40000000n])
          expect(run("clone", [flag | 0x11n])).toBe(errno(ERRNO.EPERM));
        expect(run("clone3")).toBe(errno(ERRNO.ENOSYS));
      });

      it("allows everything else, and refuses another ABI", () => {
        // read, write, openat on x86_64; getcwd, fcntl, write on aarch64: all outside the policy.
        for (const nr of [0, 1, 17, 25, 64, 257]) expect(seccompVerdict(program, { nr, arch: AUDIT[arch] })).toBe(ALLOW);
        expect(seccompVerdict(program, { nr: 1, arch: 0x40000003 })).toBe(errno(ERRNO.EPERM));
      });
    });
  }

  it("refuses the x32 ABI on x64", () => {
    expect(seccompVerdict(seccompProgram("x64") as Buffer, { nr: 0x40000000 + 41, arch: AUDIT.x64 })).toBe(errno(ERRNO.EPERM));
  });

  it("has none for an architecture whose syscall numbers it does not know", () => {
    expect(seccompSupported("s390x")).toBe(false);
    expect(seccompProgram("s390x")).toBeUndefined();
  });
});
