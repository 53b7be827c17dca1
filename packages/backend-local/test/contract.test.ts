import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeBackendContract } from "@code-interpreter/core/testing";
import { afterAll } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { localLeftovers } from "../src/testing/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-contract-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));
// One-shot sandboxes are removed after their answer: leftovers are what remains once that is done
// (warm sandboxes and session directories, waiting in their pools, are not).
let backend: LocalBackend | undefined;

describeBackendContract({
  name: "local",
  createBackend: async (settings) => {
    backend = await createLocalBackend({
      stateDir,
      sandbox: process.env.CI === "true" ? "require" : "auto",
      maxOutputBytes: settings.maxOutputBytes,
      memoryLimitMb: settings.memoryLimitMb,
    });
    return backend;
  },
  listLeftovers: () => localLeftovers(backend, stateDir),
});
