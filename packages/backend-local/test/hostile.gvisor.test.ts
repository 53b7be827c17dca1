import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeHostileSuite, gvisorSections } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { gvisorUnavailable, localLeftovers } from "../src/testing/index.js";

// The hostile battery with every sandbox under gVisor. CI runs the subset below; GVISOR_SUITE=full runs every section.
const unavailable = await gvisorUnavailable();
const skipped = unavailable !== undefined && process.env.CI !== "true";
// None when the file is skipped: no hook would remove it.
const stateDir = skipped ? "" : await mkdtemp(join(tmpdir(), "ci-local-gvisor-hostile-"));
afterAll(() => (stateDir ? rm(stateDir, { recursive: true, force: true }) : undefined));
let backend: LocalBackend | undefined;

if (skipped) {
  describe.skip(`local hostile suite under gVisor [${unavailable}]`, () => {
    it("needs runsc", () => {});
  });
} else {
  describeHostileSuite({
    name: "local (gVisor)",
    createBackend: async (settings) => {
      backend = await createLocalBackend({
        stateDir,
        sandboxRuntime: "gvisor",
        ...settings,
        pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json"],
      });
      return backend;
    },
    listLeftovers: () => localLeftovers(backend, stateDir),
    sameHost: true,
    sections: gvisorSections(["escape and isolation"]),
    // Documented in this package's README under "What gVisor changes in the hostile suite".
    gaps: {
      "limits the inodes of /workspace": "gVisor's tmpfs takes a size but no nr_inodes either, so files are bounded only by the timeout",
      "limits the inodes of /tmp": "gVisor's tmpfs takes a size but no nr_inodes either, so files are bounded only by the timeout",
      "answers code that signals its runner and every process it can":
        "runsc 20221219 lets code SIGKILL its pid namespace's init (Linux refuses), so killing the runner ends the sandbox and the answer is an error",
      "has no capabilities": "gVisor's /proc/<pid>/status has no CapAmb line (CapEff and CapPrm are 0: the spec grants none)",
      "cannot gain privileges (no_new_privs)": "gVisor's /proc/<pid>/status has no NoNewPrivs line (the spec sets noNewPrivileges)",
      "is refused the socket(AF_VSOCK) syscall": "refused, but with EPERM rather than the policy's EAFNOSUPPORT under runsc 20221219",
      "is refused the socket(AF_PACKET) syscall": "refused, but with EPERM rather than the policy's EAFNOSUPPORT under runsc 20221219",
      "is refused the socket(AF_NETLINK) syscall": "refused, but with EPERM rather than the policy's EAFNOSUPPORT under runsc 20221219",
      "answers for 100,000 small files with a bounded snapshot":
        "making 100,000 files through gVisor's file proxy (ptrace platform) takes longer than the suite's timeout",
    },
  });
}
