import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeBackendContract, gvisorSections } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { gvisorUnavailable, localLeftovers } from "../src/testing/index.js";

// The backend contract with every sandbox under gVisor (runsc over the same root filesystem).
// CI runs none of its sections (its budget goes to hostile.gvisor.test.ts; runtimes-side-by-side.gvisor.test.ts runs
// one-shot, session and kernel sandboxes under gVisor there); GVISOR_SUITE=full runs every section.
const unavailable = await gvisorUnavailable();
// Made with the backend: with every section skipped (CI), no hook runs, and nothing may be left behind.
let stateDir = "";
afterAll(() => (stateDir ? rm(stateDir, { recursive: true, force: true }) : undefined));
let backend: LocalBackend | undefined;

if (unavailable && process.env.CI !== "true") {
  describe.skip(`local backend contract under gVisor [${unavailable}]`, () => {
    it("needs runsc", () => {});
  });
} else {
  describeBackendContract({
    name: "local (gVisor)",
    createBackend: async (settings) => {
      stateDir = await mkdtemp(join(tmpdir(), "ci-local-gvisor-contract-"));
      backend = await createLocalBackend({
        stateDir,
        sandboxRuntime: "gvisor",
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
      });
      return backend;
    },
    listLeftovers: () => localLeftovers(backend, stateDir),
    sections: gvisorSections([]),
  });
}
