// Issue 22 on the local backend: the shared egress contract (test-support's
// describeEgressContract), through the engine as a server calls it, with real
// bubblewrap sandboxes (no network of their own), the real egress proxy in
// this process and the tests' loopback "internet" behind it. Then what only
// the local backend has to say: where it cannot give a sandbox a way out.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidRequestError } from "@code-interpreter/core";
import { unixNow } from "@code-interpreter/core/sandbox";
import { allowing, describeEgressContract } from "@code-interpreter/test-support/egress";
import { afterAll, describe, expect, it } from "vitest";
import { createLocalBackend, LocalBackend } from "../src/index.js";
import { defaultLocalBackendSettings } from "../src/local-backend-settings.js";
import { LocalDriver } from "../src/local-driver.js";
import { localLeftovers } from "../src/testing/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-egress-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));
let backend: LocalBackend | undefined;

describeEgressContract({
  name: "local",
  // No warm pools: sandboxes with `network` are always made cold, and idle warm ones would only take CPU.
  createBackend: async ({ egress }) => {
    backend = await createLocalBackend({ stateDir, sandbox: "require", pool: false, sessionPool: false, egress });
    return backend;
  },
  listLeftovers: () => localLeftovers(backend, stateDir),
});

describe("egress where the local backend cannot bind it", () => {
  const gateway = { open: () => Promise.reject(new Error("not reached")), close: async () => {} };

  it("refuses `network` under gVisor with a 422 that says so, before making a sandbox", async () => {
    // Built directly (no runsc probe): the refusal comes before any sandbox is made.
    const gvisor = new LocalBackend(
      { ...defaultLocalBackendSettings(), stateDir, sandboxRuntime: "gvisor", pool: false, sessionPool: false, egress: gateway },
      "gvisor",
    );
    try {
      const refused = gvisor.execute({
        code: "print(1)",
        timeoutMs: 5_000,
        lastLineInteractive: false,
        files: [],
        network: allowing("example.test"),
      });
      await expect(refused).rejects.toSatisfy((error) => InvalidRequestError.isInstance(error));
      await expect(refused).rejects.toThrow(
        /no network egress on the local backend: its gVisor runtime cannot bind the proxy's socket yet.*use the default runtime/,
      );
    } finally {
      await gvisor.close();
    }
  });

  it("refuses egress without bubblewrap (the sandbox would have the host's network)", async () => {
    const unsandboxed = new LocalDriver({ ...defaultLocalBackendSettings(), stateDir }, "none");
    expect(unsandboxed.capabilities.egress).toBe(false);
    await expect(
      unsandboxed.start({
        lifetimeSeconds: 10,
        expiresAt: unixNow() + 10,
        warm: false,
        preload: [],
        env: {},
        egress: { hostDirectory: stateDir },
      }),
    ).rejects.toThrow(/needs bubblewrap/);
  });
});
