import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { processChannel } from "../runner/runner-channel.js";
import { kernelArgv } from "../runner/runner-commands.js";
import { PythonKernel } from "./persistent-runner.js";

// The kernel's protocol, run directly (no sandbox) in a temporary directory.
let dir: string;
let kernel: PythonKernel;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-kernel-"));
  const [python, ...args] = kernelArgv("python3");
  const child = spawn(python as string, args, { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
  kernel = new PythonKernel(processChannel(child), async () => {
    child.kill("SIGKILL");
  });
});
afterEach(async () => {
  await kernel.stop();
  await rm(dir, { recursive: true, force: true });
});

const cell = (code: string, extra: { timeoutMs?: number; stdin?: string } = {}) =>
  kernel.exchange({
    cell: { code, showLast: true },
    cwd: dir,
    maxOutputBytes: 1 << 20,
    timeoutMs: extra.timeoutMs ?? 10_000,
    stdin: extra.stdin,
  });

describe("a Python kernel", () => {
  it("keeps variables, imports and functions between cells", async () => {
    expect(await cell("import math\nx = 20\ndef double(v):\n    return v * 2")).toMatchObject({ stdout: "", exitCode: 0 });
    expect(await cell("double(x) + math.floor(1.5)")).toMatchObject({ stdout: "41\n", exitCode: 0 });
  });

  it("separates stdout and stderr, also of subprocesses, and reads stdin", async () => {
    const result = await cell("import os, sys\nprint('out')\nprint('err', file=sys.stderr)\nos.system('echo from-shell')\nprint(input())", {
      stdin: "typed",
    });
    expect(result).toMatchObject({ stdout: "out\nfrom-shell\ntyped\n", stderr: "err\n", exitCode: 0 });
  });

  it("reports exceptions without ending the session", async () => {
    const failed = await cell("y = 1\nraise ValueError('bad')");
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain("ValueError: bad");
    expect(failed.stderr).toContain('File "__main__.py", line 2');
    expect((await cell("y")).stdout).toBe("1\n");
    expect((await cell("import sys\nsys.exit(3)")).exitCode).toBe(3);
    expect((await cell("y + 1")).stdout).toBe("2\n");
  });

  it("interrupts a cell at its timeout and stays usable", async () => {
    await cell("kept = 'still here'");
    const slow = await cell("import time\nprint('begin', flush=True)\ntime.sleep(30)", { timeoutMs: 500 });
    expect(slow).toMatchObject({ stdout: "begin\n", timedOut: true, exitCode: null });
    expect(slow.restarted).toBe(false);
    expect((await cell("kept")).stdout).toBe("'still here'\n");
  });

  it("restarts, and says so, when a cell will not stop", async () => {
    await cell("kept = 1");
    const stuck = await cell("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", { timeoutMs: 300 });
    expect(stuck).toMatchObject({ timedOut: true, exitCode: null, restarted: true });
    expect(stuck.stderr).toContain("the Python session was restarted");
    expect(kernel.alive).toBe(false);
  });
});
