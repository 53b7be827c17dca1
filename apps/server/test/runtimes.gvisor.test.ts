import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { listRunscContainers } from "@code-interpreter/backend-local/testing";
import { describeSnapshotContract } from "@code-interpreter/test-support/snapshots";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, type LiveServer, startLiveServer } from "./fixture.js";
import { localSnapshotLeftovers, startSnapshotServer } from "./support/snapshot-servers.js";

// One real server on the local backend offering both runtimes, over HTTP: a request for gvisor runs under
// gVisor and one without runs on the host's kernel. Proven by what only gVisor shows: its own kernel
// answers /proc/version and uname ("Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016", release 4.4.0),
// not the host's. (Its dmesg, "Starting gVisor...", needs CAP_SYSLOG, which sandboxes do not have.)

/** Why gVisor cannot run here, or undefined: runsc must run, and the local backend runs it as root. */
function gvisorUnavailable(): string | undefined {
  const version = spawnSync(process.env.LOCAL_RUNSC_PATH || "runsc", ["--version"], { encoding: "utf8" });
  if (version.error || version.status !== 0) return "runsc is not installed (scripts/test.d/60-gvisor.sh installs it)";
  if (process.getuid?.() !== 0) return "runsc sandboxes need the server to run as root";
  return undefined;
}

const unavailable = gvisorUnavailable();
if (unavailable && process.env.CI === "true") throw new Error(`the gVisor runtime tests need runsc: ${unavailable}`);

const PROBE = "print(open('/proc/version').read().strip())";
const HOST_VERSION = readFileSync("/proc/version", "utf8").trim();
/** gVisor's own kernel version, whatever the host's. */
const GVISOR_VERSION = /^Linux version 4\.4\.0 #1 SMP Sun Jan 10 15:06:54 PST 2016$/;

let server: LiveServer;

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

describe.skipIf(unavailable !== undefined)(
  `a server offering default and gvisor on the local backend${unavailable ? ` [${unavailable}]` : ""}`,
  { timeout: 180_000 },
  () => {
    beforeAll(async () => {
      // No warm pools: every request starts its own sandbox, in the runtime it asks for.
      server = await startLiveServer({
        SANDBOX_RUNTIMES: "default,gvisor",
        SANDBOX_POOL_MAX: "0",
        SESSION_POOL_MAX: "0",
      });
    }, 240_000);
    afterAll(() => server?.stop());

    it("offers both, default first", async () => {
      const capabilities = await json(await fetch(`${server.url}/v1/capabilities`));
      expect(capabilities).toMatchObject({
        backend: "local",
        runtimes: ["default", "gvisor"],
        default_runtime: "default",
        memory_snapshots: ["gvisor"],
      });
    });

    it("creates a gvisor session and runs in it under gVisor, and deletes it", async () => {
      const created = await post("/v1/sessions", { runtime: "gvisor" });
      expect(created.status).toBe(201);
      const { session_id } = await json(created);
      try {
        expect(await json(await fetch(`${server.url}/v1/sessions/${session_id}`))).toMatchObject({ session_id, runtime: "gvisor" });
        const python = await json(await post(`/v1/sessions/${session_id}/python`, { code: PROBE, timeout_ms: 60_000 }));
        expect(python.exit_code).toBe(0);
        expect(python.stdout.trim()).toMatch(GVISOR_VERSION);
        expect(python.stdout.trim()).not.toBe(HOST_VERSION);
        const bash = await json(await post(`/v1/sessions/${session_id}/bash`, { cmd: "uname -r", timeout_ms: 60_000 }));
        expect(bash.stdout).toBe("4.4.0\n");
      } finally {
        expect((await fetch(`${server.url}/v1/sessions/${session_id}`, { method: "DELETE" })).status).toBe(204);
      }
      expect((await fetch(`${server.url}/v1/sessions/${session_id}`)).status).toBe(404);
    });

    it("executes under gVisor when asked, and on the host's kernel otherwise", async () => {
      const gvisor = await json(await post("/v1/execute", { code: PROBE, runtime: "gvisor", timeout_ms: 60_000 }));
      expect(gvisor.exit_code).toBe(0);
      expect(gvisor.stdout.trim()).toMatch(GVISOR_VERSION);
      const host = await json(await post("/v1/execute", { code: PROBE, timeout_ms: 60_000 }));
      expect(host.exit_code).toBe(0);
      expect(host.stdout.trim()).toBe(HOST_VERSION);
    });
  },
);

// Issue 23's snapshot contract with gvisor sessions (`runtime: "gvisor"`) on the same kind of server: the
// pause answer's `memory` says whether the kernel's variables were kept, and the suite checks what it says.
if (unavailable === undefined) {
  let dir: string | undefined;
  describeSnapshotContract({
    name: "local (gvisor)",
    runtime: "gvisor",
    startServer: async (env) => {
      const server = await startSnapshotServer("ci-snapshots-gvisor", { SANDBOX_RUNTIMES: "default,gvisor", ...env });
      dir = server.dir;
      return server;
    },
    listLeftovers: async () => [...(await localSnapshotLeftovers(dir)), ...(dir ? await listRunscContainers(`${dir}/local`) : [])],
  });
}
