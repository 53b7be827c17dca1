import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeBackendContract } from "@code-interpreter/core/testing";
import { afterAll } from "vitest";
import { createLocalBackend } from "../src/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-contract-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));

/** Sandboxes this test process started that are still running: bwrap children named after them. */
async function runningSandboxes(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const parent = Number((await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ")[1]);
      if (parent !== process.pid) continue;
      const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      found.push(`${pid} ${argv[argv.indexOf("--hostname") + 1] ?? argv[0]}`);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

describeBackendContract({
  name: "local",
  createBackend: (settings) =>
    createLocalBackend({
      stateDir,
      sandbox: process.env.CI === "true" ? "require" : "auto",
      maxOutputBytes: settings.maxOutputBytes,
      memoryLimitMb: settings.memoryLimitMb,
    }),
  listLeftovers: async () => [
    ...(await runningSandboxes()),
    ...(await readdir(join(stateDir, "sessions"))).map((name) => `session dir ${name}`),
  ],
});
