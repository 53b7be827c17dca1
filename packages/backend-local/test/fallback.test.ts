import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackendUnavailableError } from "@code-interpreter/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalBackend } from "../src/index.js";

let stateDir: string;
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "ci-local-fallback-"));
});
afterAll(() => rm(stateDir, { recursive: true, force: true }));

describe("without bubblewrap", () => {
  it("refuses to start with LOCAL_SANDBOX=require, saying why", async () => {
    await expect(createLocalBackend({ stateDir, bwrapPath: "/nonexistent/bwrap", sandbox: "require" })).rejects.toSatisfy(
      (error: Error) => BackendUnavailableError.isInstance(error) && error.message.includes("/nonexistent/bwrap not found"),
    );
  });

  it("warns that code is not isolated and still runs it with the same semantics", async () => {
    const warnings: string[] = [];
    const backend = await createLocalBackend({ stateDir, bwrapPath: "/nonexistent/bwrap", warn: (message) => warnings.push(message) });
    try {
      expect(warnings.join("\n")).toContain("WITHOUT isolation");
      const result = await backend.execute({
        code: "print(open('in.txt').read())\nopen('out.txt', 'w').write('made')\nNone",
        timeoutMs: 10_000,
        lastLineInteractive: true,
        files: [{ path: "in.txt", content: Buffer.from("staged") }],
      });
      expect(result).toMatchObject({ stdout: "staged\n", exitCode: 0, timedOut: false });
      expect(result.files.map((file) => [file.path, file.content.toString()])).toEqual([["out.txt", "made"]]);
      const slow = await backend.execute({ code: "import time\ntime.sleep(30)", timeoutMs: 500, lastLineInteractive: false, files: [] });
      expect(slow).toMatchObject({ timedOut: true, exitCode: null });
      // Nothing of the one-shot workspaces stays on disk (once their removal, after the answer, is done).
      await backend.whenIdle();
      expect(await readdir(join(stateDir, "exec")).catch(() => [])).toEqual([]);
    } finally {
      await backend.close();
    }
  });
});

describe("without the prepared sandbox environment", () => {
  it("refuses to start rather than run the host's Python, saying how to prepare it", async () => {
    const rootfs = join(stateDir, "not-prepared");
    await expect(createLocalBackend({ stateDir, rootfs, sandbox: "auto", pool: false, warn: () => {} })).rejects.toSatisfy(
      (error: Error) =>
        BackendUnavailableError.isInstance(error) &&
        error.message.includes(`not prepared at ${rootfs}`) &&
        error.message.includes("images/environment/prepare-rootfs.sh") &&
        error.message.includes("LOCAL_ROOTFS=host"),
    );
  });

  it("runs the host's /usr only when LOCAL_ROOTFS=host asks for it, and warns", async () => {
    const warnings: string[] = [];
    const backend = await createLocalBackend({
      stateDir,
      rootfs: "host",
      sandbox: "require",
      pool: false,
      warn: (message) => warnings.push(message),
    });
    try {
      expect(warnings.join("\n")).toContain("LOCAL_ROOTFS=host");
      const result = await backend.execute({
        code: "import os\nprint(os.path.exists('/etc/code-interpreter'))",
        timeoutMs: 10_000,
        lastLineInteractive: false,
        files: [],
      });
      expect(result).toMatchObject({ stdout: "False\n", exitCode: 0 });
    } finally {
      await backend.close();
    }
  });
});

describe("with sandboxRuntime gvisor", () => {
  const refusal = (reason: string) => (error: Error) =>
    BackendUnavailableError.isInstance(error) && error.message.includes("SANDBOX_RUNTIME=gvisor") && error.message.includes(reason);

  it("refuses to start without runsc, saying why, and never falls back to a weaker sandbox", async () => {
    await expect(createLocalBackend({ stateDir, sandboxRuntime: "gvisor", runscPath: "/nonexistent/runsc" })).rejects.toSatisfy(
      refusal("/nonexistent/runsc not found"),
    );
    await expect(createLocalBackend({ stateDir, sandboxRuntime: "gvisor", sandbox: "off" })).rejects.toSatisfy(
      refusal("LOCAL_SANDBOX=off"),
    );
    await expect(createLocalBackend({ stateDir, sandboxRuntime: "gvisor", rootfs: "host" })).rejects.toSatisfy(
      refusal("LOCAL_ROOTFS=host"),
    );
  });

  it("refuses to start when runsc cannot start a sandbox, with runsc's reason", async () => {
    // A runsc that is installed but cannot start a sandbox: only `--version` succeeds.
    const broken = join(stateDir, "broken-runsc");
    await writeFile(broken, '#!/bin/sh\n[ "$1" = "--version" ] && exit 0\necho "runsc: cannot start: platform unavailable" >&2\nexit 1\n');
    await chmod(broken, 0o755);
    const creating = createLocalBackend({ stateDir, sandboxRuntime: "gvisor", runscPath: broken });
    if (process.getuid?.() !== 0) await expect(creating).rejects.toSatisfy(refusal("does not run as root"));
    else await expect(creating).rejects.toSatisfy(refusal("a test sandbox failed"));
  });
});
