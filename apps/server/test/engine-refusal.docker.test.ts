import { existsSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { createDockerBackend } from "@code-interpreter/backend-docker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, json, postJson } from "./fixture.js";
import { canRunPrivateDockerd, type PrivateDockerd, startPrivateDockerd } from "./support/private-dockerd.js";
import { startServerProcess } from "./support/server-process.js";
import { stateDir } from "./support/temp-dirs.js";

// A private Docker daemon with two runtimes it cannot run sandboxes with: crun, which on a host with
// cgroups v1 refuses with "cgroups in hybrid mode not supported" (the refusal users met), and a
// runtime whose binary is missing (a refusal on every host). The machine's main dockerd is untouched.
const IMAGE = "code-interpreter-executor:latest";
const CRUN = "/usr/bin/crun";
const unavailable = canRunPrivateDockerd() ?? (existsSync(CRUN) ? undefined : "no crun (scripts/test.d/45-crun.sh installs it)");
if (unavailable && process.env.CI === "true") throw new Error(`the engine-refusal tests need a private dockerd and crun: ${unavailable}`);
/** cgroup2fs at /sys/fs/cgroup is cgroups v2, where crun works; anything else is v1 or hybrid, where it refuses. */
const CGROUP2_MAGIC = 0x63677270;
const cgroupsV1 = statfsSync("/sys/fs/cgroup").type !== CGROUP2_MAGIC;

let engine: PrivateDockerd;
beforeAll(async () => {
  if (!unavailable) {
    engine = await startPrivateDockerd(IMAGE, { args: [`--add-runtime=crun=${CRUN}`, "--add-runtime=gone=/nonexistent/oci-runtime"] });
  }
}, 180_000);
afterAll(async () => {
  await engine?.destroy();
}, 120_000);

const describeIf = unavailable ? describe.skip : describe;

describeIf.each([
  // On a host with cgroups v2 crun runs sandboxes: there it has nothing to refuse.
  ...(cgroupsV1 ? [{ runtime: "crun", reason: "cgroups" }] : []),
  { runtime: "gone", reason: "/nonexistent/oci-runtime" },
])("a Docker engine that refuses the runtime $runtime", { timeout: 300_000 }, ({ runtime, reason }) => {
  it("answers 503 with the engine's reason and where to look, on execute, its stream and sessions; nothing is left", async () => {
    // No warm pools: against a refusing engine a pool keeps retrying, and its attempt under way would be
    // counted below as left behind (CI caught one, created and not yet removed, at the moment of the check).
    const test = await createTestApp({}, undefined, () =>
      createDockerBackend({ docker: engine.docker, image: IMAGE, runtime, pool: false, sessionPool: false, warn: () => {} }),
    );
    try {
      const execute = await postJson(test.app, "/v1/execute", { code: "print(1)" });
      expect(execute.status).toBe(503);
      const { detail } = await json(execute);
      expect(detail).toContain("the Docker engine refused to run the sandbox");
      expect(detail).toContain(reason);
      expect(detail).toContain(`runtime ${runtime} (PYTHON_EXECUTOR_DOCKER_RUNTIME)`);
      // Sanitised: none of the client's framing, no container ids.
      expect(detail).not.toMatch(/HTTP code|[0-9a-f]{64}/);

      const stream = await postJson(test.app, "/v1/execute/stream", { code: "print(1)" });
      const text = await stream.text();
      expect(text).toContain("event: error");
      expect(text).toContain(reason);

      const session = await postJson(test.app, "/v1/sessions", {});
      expect(session.status).toBe(503);
      expect((await json(session)).detail).toContain(reason);

      expect(await engine.docker.listContainers({ all: true, filters: { label: ["app=code-interpreter"] } })).toEqual([]);
    } finally {
      await test.close();
    }
  });

  it("stops the server at start-up with the reason: its trial sandbox cannot run print(1)", async () => {
    const dir = await stateDir("ci-engine-refusal");
    try {
      const started = startServerProcess({
        env: {
          EXECUTOR_BACKEND: "docker",
          DOCKER_HOST: engine.host,
          PYTHON_EXECUTOR_DOCKER_IMAGE: IMAGE,
          PYTHON_EXECUTOR_DOCKER_RUNTIME: runtime,
          FILE_STORAGE_DIR: join(dir.path, "files"),
          SANDBOX_POOL_MAX: "0",
        },
      });
      const refused = await started.then(
        async (server) => {
          await server.stop();
          return "it started";
        },
        (error: Error) => error.message,
      );
      expect(refused).toContain("exited (1) before listening");
      expect(refused).toContain("the docker backend cannot run code: its trial sandbox (print(1)) failed");
      expect(refused).toContain(reason);
      expect(await engine.docker.listContainers({ all: true, filters: { label: ["app=code-interpreter"] } })).toEqual([]);
    } finally {
      await dir.remove();
    }
  });
});
