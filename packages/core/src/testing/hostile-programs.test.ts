import { describe, expect, it } from "vitest";
import * as code from "./hostile-code.js";
import { hostileProgram } from "./hostile-programs.js";

describe("the hostile programs", () => {
  it("get their parameters as Python literals", () => {
    const source = code.CONNECT([["10.0.0.1", 80]]);
    expect(source).toContain('targets = [["10.0.0.1", 80]]\n');
    expect(code.FILL_DISK('/tmp/a "b"', 64, true)).toContain('directory = "/tmp/a \\"b\\""\nlimit_mb = 64\nkeep = True\n');
    expect(code.DAEMONISE).toContain(`marker = "${code.HOSTILE_MARKER}"\n`);
  });

  it("refuse a missing or an unknown parameter", () => {
    expect(() => hostileProgram("memory_bomb")).toThrow("needs the parameter megabytes");
    expect(() => hostileProgram("fork_bomb", { megabytes: 1 })).toThrow("has no parameter megabytes");
  });

  it("inline what they import with `# inlined`, so each is one program", () => {
    const source = code.DANGEROUS_SYSCALLS.mount?.source ?? "";
    expect(source).not.toMatch(/^from syscall_numbers import/m);
    expect(source).toMatch(/^def call\(name, \*args, label=None\):$/m);
  });
});
