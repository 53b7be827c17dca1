import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeHostileSuite, SYSCALL_TESTS } from "@code-interpreter/core/testing";
import { afterAll } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { seccompSupported } from "../src/seccomp-filter.js";
import { localLeftovers } from "../src/testing/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-hostile-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));
// One-shot sandboxes are removed after their answer: leftovers are what remains once that is done
// (warm sandboxes and session directories, waiting in their pools, are not).
let backend: LocalBackend | undefined;

describeHostileSuite({
  name: "local",
  createBackend: async (settings) => {
    backend = await createLocalBackend({
      stateDir,
      sandbox: process.env.CI === "true" ? "require" : "auto",
      ...settings,
      // Warm sandboxes take the production path (code forked from a preloaded runner) without the data stack's start-up cost.
      pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
      preload: ["json"],
    });
    return backend;
  },
  listLeftovers: () => localLeftovers(backend, stateDir),
  sameHost: true,
  // Documented in this package's README under "What it cannot enforce".
  gaps: {
    ...(seccompSupported()
      ? {}
      : {
          "runs under a seccomp filter": `no seccomp filter for ${process.arch} (only x64 and arm64 have one)`,
          ...Object.fromEntries(SYSCALL_TESTS.map((name) => [name, "without a seccomp filter the syscall policy is not enforced"])),
        }),
    "limits the inodes of /workspace": "bubblewrap cannot set nr_inodes on its tmpfs, so files are bounded only by the timeout",
    "limits the inodes of /tmp": "bubblewrap cannot set nr_inodes on its tmpfs, so files are bounded only by the timeout",
  },
});
