import { describe, expect, it } from "vitest";
import { ociSeccompErrno, seccompVerdict } from "../testing/seccomp-verdict.js";
import { seccompBpf } from "./seccomp-bpf.js";
import { type OciSeccompProfile, ociSeccompProfile, SYSCALL_NUMBERS } from "./syscall-policy.js";

const ALLOW = 0x7fff0000;
const AUDIT = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;

/** What libseccomp makes of the profile: the first rule whose conditions all hold decides, else allow. */
function ociVerdict(profile: OciSeccompProfile, name: string, args: bigint[]): number {
  const errno = ociSeccompErrno(profile, name, args);
  return errno === undefined ? ALLOW : 0x00050000 | errno;
}

describe("seccompBpf", () => {
  const profile = ociSeccompProfile();
  // Values around every constant the profile compares with, and some with high bits set.
  const constants = profile.syscalls.flatMap((rule) => rule.args.flatMap((condition) => [condition.value, condition.valueTwo]));
  const samples = [
    ...new Set([0, 1, 2, 3, 10, 11, 17, 40, 0x11, 0x01200011, 0x003d0f00, ...constants.flatMap((value) => [value - 1, value, value + 1])]),
  ]
    .filter((value) => value >= 0)
    .flatMap((value) => [BigInt(value), BigInt(value) | 0x1_0000_0000n, BigInt(value) | 0x8000_0000_0000_0000n]);

  for (const arch of ["x86_64", "aarch64"] as const) {
    it(`decides every call of the profile as libseccomp would on ${arch}`, () => {
      const program = seccompBpf(profile, arch);
      for (const name of new Set(profile.syscalls.flatMap((rule) => rule.names))) {
        const nr = SYSCALL_NUMBERS[arch][name] as number;
        for (const first of samples) {
          const args = [first, 1n, 0n];
          expect(seccompVerdict(program, { nr, arch: AUDIT[arch], args }), `${name}(${first})`).toBe(ociVerdict(profile, name, args));
        }
      }
      expect(seccompVerdict(program, { nr: 1, arch: AUDIT[arch] })).toBe(ALLOW);
      expect(seccompVerdict(program, { nr: 1, arch: 0x40000003 })).toBe(0x00050001);
    });
  }

  it("refuses what it cannot express, rather than loading a weaker filter", () => {
    const rule: OciSeccompProfile["syscalls"][number] = { names: ["bpf"], action: "SCMP_ACT_ERRNO", errnoRet: 1, args: [], comment: "" };
    expect(() => seccompBpf({ ...profile, defaultAction: "SCMP_ACT_ERRNO" as "SCMP_ACT_ALLOW" }, "x86_64")).toThrow(/defaultAction/);
    expect(() => seccompBpf({ ...profile, syscalls: [{ ...rule, names: ["no_such_call"] }] }, "x86_64")).toThrow(/no_such_call/);
    expect(() => seccompBpf({ ...profile, syscalls: [{ ...rule, action: "SCMP_ACT_KILL" as "SCMP_ACT_ERRNO" }] }, "x86_64")).toThrow(
      /SCMP_ACT_KILL/,
    );
    expect(() => seccompBpf({ ...profile, architectures: ["SCMP_ARCH_X86_64"] }, "aarch64")).toThrow(/AARCH64/);
  });
});
