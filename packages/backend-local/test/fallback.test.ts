import { mkdtemp, readdir, rm } from "node:fs/promises";
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
      // Nothing of the one-shot workspaces stays on disk.
      expect(await readdir(join(stateDir, "exec")).catch(() => [])).toEqual([]);
    } finally {
      await backend.close();
    }
  });
});
