import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeBackendContract } from "@code-interpreter/core/testing";
import { afterAll } from "vitest";
import { createLocalBackend } from "../src/index.js";
import { listSandboxProcesses } from "../src/testing/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-contract-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));

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
    ...(await listSandboxProcesses()),
    ...(await readdir(join(stateDir, "sessions"))).map((name) => `session dir ${name}`),
  ],
});
