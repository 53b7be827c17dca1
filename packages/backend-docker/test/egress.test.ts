// Issue 22 on the Docker backend, end to end: real containers (network `none`)
// given an egress directory, the real egress proxy (@code-interpreter/egress) in
// this process, and the tests' loopback "internet" behind it, reached through
// the proxy's hosts map. Through the engine (backend.execute, sessions), as the
// server calls it. What every backend must do is the shared suite's
// (egress-contract/egress-hostile.test.ts); these are docker's own: a warm pool
// beside egress, the session container's forwarder serving every exec, a
// directory the engine cannot see, and gVisor.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newSessionId, unixNow } from "@code-interpreter/core/sandbox";
import { createEgressGateway, type EgressProxy } from "@code-interpreter/egress";
import { type LoopbackInternet, startLoopbackInternet } from "@code-interpreter/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerDriver } from "../src/docker-driver.js";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, dockerAvailable, fileLabels, gvisorAvailable, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
// Made up per run and never written into any sandbox.
const SECRET = `sk-loopback-${Math.random().toString(36).slice(2)}${Date.now()}`;
const FETCH = (url: string) => `python3 -c '
import urllib.request, urllib.error
try:
    print(urllib.request.urlopen("${url}", timeout=30).read().decode(), end="")
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode().strip())'`;

// runsc registered by scripts/test.d/60-gvisor.sh (with --host-uds=open); locally its absence skips that part only.
const gvisor = (await dockerAvailable()) && (await gvisorAvailable("the docker egress test's gVisor case"));

describe.skipIf(!(await dockerAvailable()))("egress on the docker backend", { timeout: 120_000 }, () => {
  // The proxy's state directory stays 0700: the engine binds each sandbox's own directory (0755), so the
  // sandbox uid (65532) never walks the path to it.
  let egressDir: string;
  let internet: LoopbackInternet;
  let gateway: EgressProxy;
  let backend: DockerBackend;

  beforeAll(async () => {
    egressDir = await mkdtemp(join(tmpdir(), "ci-docker-egress-"));
    internet = await startLoopbackInternet();
    gateway = await createEgressGateway({
      hosts: {
        "files.example.test": { address: "127.0.0.1", port: internet.https.port },
        "denied.example.test": { address: "127.0.0.1", port: internet.https.port },
      },
      upstreamCa: internet.caCertificate,
      stateDirectory: egressDir,
      secrets: { "files-token": { value: SECRET, hosts: ["files.example.test"], format: "Bearer {value}" } },
    });
    // A warm pool on: a request with `network` must still get a cold container of its own.
    backend = await createDockerBackend({ ...testSettings(labels), egress: gateway, pool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
  }, 120_000);

  afterAll(async () => {
    await backend?.close();
    await gateway?.close();
    await internet?.close();
    await removeLabelled(labels);
    if (egressDir) await rm(egressDir, { recursive: true, force: true });
  });

  it("refuses an egress directory the engine cannot see, with the fix", async () => {
    // A server in a container whose EGRESS_STATE_DIR is not bound at the same path on the host: the engine cannot see it.
    const driver = new DockerDriver(backend.settings);
    const unseen = { hostDirectory: join(egressDir, "not-on-the-host") };
    const start = { lifetimeSeconds: 30, expiresAt: unixNow() + 30, warm: false, preload: [], env: {}, egress: unseen };
    await expect(driver.start(start)).rejects.toThrow(/cannot bind the sandbox's egress directory .*EGRESS_STATE_DIR .*same path/);
    await expect(driver.createSession({ id: newSessionId(), expiresAt: unixNow() + 30, egress: unseen })).rejects.toThrow(/same path/);
  });

  it("gives a session's kernel and commands a way out, and tightens it while it runs", async () => {
    const session = await backend.createSession({
      ttlSeconds: 120,
      files: [],
      network: { allow_out: ["files.example.test"], deny_out: [] },
    });
    try {
      const python = `import urllib.request
try:
    print(urllib.request.urlopen("https://files.example.test/data.csv", timeout=30).read().decode().splitlines()[1])
except OSError as error:
    print("refused:", error)`;
      const run = (language: "python" | "bash", code: string) =>
        backend.runInSession({ sessionId: session.id, language, code, timeoutMs: 60_000 });
      // The kernel (two cells: the forwarder outlives each) and a bash command, exec'd separately into the container.
      expect((await run("python", python)).stdout).toBe("Lisbon,545923\n");
      expect((await run("python", python)).stdout).toBe("Lisbon,545923\n");
      const command = await run("bash", FETCH("https://files.example.test/data.csv"));
      expect(command.stdout).toBe("city,population\nLisbon,545923\nPorto,231800\n");
      expect(command.network).toContainEqual(expect.objectContaining({ host: "files.example.test", allowed: true }));

      const tightened = await backend.updateSessionNetwork?.(session.id, { allow_out: ["other.example.test"], deny_out: [] });
      expect(tightened?.network).toEqual({ allow_out: ["other.example.test"], deny_out: [] });
      const refused = await run("python", python);
      // The proxy refuses the CONNECT at once (urllib reports its 403 as a failed tunnel).
      expect(refused.stdout).toMatch(/^refused: .*Tunnel connection failed: 403/);
      expect(refused.network).toContainEqual(expect.objectContaining({ host: "files.example.test", allowed: false }));
    } finally {
      await backend.deleteSession(session.id);
    }
  });

  it("works under gVisor too (runsc with --host-uds=open), and leaves no container or egress directory behind", async () => {
    if (gvisor) {
      const runsc = await createDockerBackend({
        ...testSettings(labels),
        sandboxRuntime: "gvisor",
        egress: gateway,
        pool: false,
        sessionPool: false,
      });
      try {
        expect(runsc.capabilities.egress).toBe(true);
        const network = { allow_out: ["files.example.test"], deny_out: [] };
        const oneShot = await runsc.execute({
          code: FETCH("https://files.example.test/data.csv"),
          language: "bash",
          timeoutMs: 90_000,
          lastLineInteractive: false,
          files: [],
          network,
        });
        expect(oneShot.stdout).toBe("city,population\nLisbon,545923\nPorto,231800\n");
        const session = await runsc.createSession({ ttlSeconds: 120, files: [], network });
        try {
          const command = await runsc.runInSession({
            sessionId: session.id,
            language: "bash",
            code: FETCH("https://files.example.test/data.csv"),
            timeoutMs: 90_000,
          });
          expect(command.stdout).toBe("city,population\nLisbon,545923\nPorto,231800\n");
        } finally {
          await runsc.deleteSession(session.id);
        }
      } finally {
        await runsc.close();
      }
    }
    await backend.whenIdle();
    // The pool's warm container waits (it never had a way out); nothing else of this file is left.
    expect(await containersLabelled(labels)).toEqual([]);
    expect(await readdir(egressDir)).toEqual([]);
  });
});
