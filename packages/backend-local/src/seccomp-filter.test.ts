import { describe, expect, it } from "vitest";
import { seccompProgram, seccompSupported } from "./seccomp-filter.js";

describe("seccomp filter", () => {
  it("is a whole number of BPF instructions ending in allow, then deny with EPERM", () => {
    for (const arch of ["x64", "arm64"] as const) {
      const program = seccompProgram(arch);
      expect(program?.length ?? 0).toBeGreaterThan(0);
      if (!program) continue;
      expect(program.length % 8).toBe(0);
      const last = program.length / 8 - 1;
      expect(program.readUInt32LE((last - 1) * 8 + 4)).toBe(0x7fff0000);
      expect(program.readUInt32LE(last * 8 + 4)).toBe(0x00050001);
    }
  });

  it("has none for an architecture whose syscall numbers it does not know", () => {
    expect(seccompSupported("s390x")).toBe(false);
    expect(seccompProgram("s390x")).toBeUndefined();
  });
});
