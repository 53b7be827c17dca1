// Issue 22's hostile cases on the local backend (test-support's
// describeEgressHostile): code with `network` in a real bubblewrap sandbox
// trying to get past the egress proxy in this process.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeEgressHostile } from "@code-interpreter/test-support/egress";
import { afterAll } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { localLeftovers } from "../src/testing/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-egress-hostile-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));
let backend: LocalBackend | undefined;

describeEgressHostile({
  name: "local",
  createBackend: async ({ egress }) => {
    backend = await createLocalBackend({ stateDir, sandbox: "require", pool: false, sessionPool: false, egress });
    return backend;
  },
  listLeftovers: () => localLeftovers(backend, stateDir),
});
