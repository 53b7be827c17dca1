import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { canRunPrivateDockerd, type PrivateDockerd, startPrivateDockerd } from "./support/private-dockerd.js";
import { postJson, type ServerProcess, startServerProcess, streamUntilPrinted, waitFor } from "./support/server-process.js";
import { stateDir } from "./support/temp-dirs.js";

// The server as a real process on a private Docker daemon that these tests kill, restart and take the
// image from; the machine's main dockerd, which other tests use, is never touched.
const IMAGE = "code-interpreter-executor:latest";
const unavailable = canRunPrivateDockerd();
if (unavailable && process.env.CI === "true") throw new Error(`the Docker fault tests need a private dockerd: ${unavailable}`);

let engine: PrivateDockerd;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  if (!unavailable) engine = await startPrivateDockerd(IMAGE);
}, 180_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  // Each test starts on an empty engine: what a killed server left is not the next test's leftover.
  for (const container of (await engine?.docker.listContainers({ all: true })) ?? []) {
    await engine.docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => {});
  }
});
afterAll(async () => {
  await engine?.destroy();
}, 120_000);

async function start(env: Record<string, string> = {}): Promise<ServerProcess> {
  const dir = await stateDir("ci-faults-docker");
  cleanups.push(() => dir.remove());
  const server = await startServerProcess({
    env: {
      EXECUTOR_BACKEND: "docker",
      DOCKER_HOST: engine.host,
      PYTHON_EXECUTOR_DOCKER_IMAGE: IMAGE,
      FILE_STORAGE_DIR: join(dir.path, "files"),
      SANDBOX_PRELOAD: "none",
      REAPER_INTERVAL_SEC: "1",
      // No session pool unless a test asks for it: warm session containers are cheap to keep out of tests about other things.
      SESSION_POOL_MAX: "0",
      ...env,
    },
  });
  cleanups.push(() => server.stop());
  return server;
}

const containers = async (component: "exec" | "session") =>
  engine.docker.listContainers({ all: true, filters: { label: ["app=code-interpreter", `component=${component}`] } });

const describeIf = unavailable ? describe.skip : describe;

describeIf("the server process on a Docker engine that fails", { timeout: 300_000 }, () => {
  it("reports a missing executor image on /health, saying how to build it, and recovers when it is back", async () => {
    const server = await start({ SANDBOX_POOL_MAX: "0" });
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: "ok", version: expect.any(String) });
    await engine.docker.getImage(IMAGE).tag({ repo: "ci-faults-backup", tag: "latest" });
    await engine.docker.getImage(IMAGE).remove();
    try {
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(503);
      const body = (await health.json()) as { status: string; backend: { name: string; ok: boolean; detail: string } };
      expect(body).toMatchObject({ status: "degraded", version: expect.any(String), backend: { name: "docker", ok: false } });
      expect(body.backend.detail).toContain(IMAGE);
      expect(body.backend.detail).toContain("pnpm image:build");
      const execute = await postJson(`${server.url}/v1/execute`, { code: "print(1)" });
      expect(execute.status).toBe(503);
      expect(execute.body.detail).toContain(IMAGE);
    } finally {
      await engine.docker.getImage("ci-faults-backup:latest").tag({ repo: "code-interpreter-executor", tag: "latest" });
      await engine.docker.getImage("ci-faults-backup:latest").remove();
    }
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await postJson(`${server.url}/v1/execute`, { code: "print(1)" })).body.stdout).toBe("1\n");
  });

  it("cancels an execution and removes its container when the client disconnects", async () => {
    const server = await start({ SANDBOX_POOL_MAX: "0" });
    const controller = new AbortController();
    const request = postJson(
      `${server.url}/v1/execute`,
      { code: "import time\ntime.sleep(60)", timeout_ms: 60_000 },
      { signal: controller.signal },
    ).catch((error: Error) => error);
    await waitFor("the execution's container to run", async () => (await containers("exec")).some((c) => c.State === "running"));
    controller.abort();
    expect(await request).toBeInstanceOf(Error);
    await waitFor("the container to be removed", async () => (await containers("exec")).length === 0, 60_000);
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    // SIGTERM took its sandboxes with it.
    expect(await containers("exec")).toEqual([]);
  });

  it("answers 503 when the engine dies mid-execution, reports it on /health, and recovers without a restart", async () => {
    // No warm sandbox at first, so the execution's own container is the one to wait for; warm ones
    // follow the demand, and must not break the service once their engine is gone.
    const server = await start({ SANDBOX_POOL_MIN: "0" });
    const inFlight = postJson(`${server.url}/v1/execute`, { code: "import time\ntime.sleep(30)", timeout_ms: 45_000 });
    await waitFor("the execution's container to run", async () =>
      (await containers("exec")).some((c) => c.State === "running" && c.Labels["code-interpreter.warm"] !== "true"),
    );
    await engine.kill();
    try {
      const answer = await inFlight;
      expect(answer.status, JSON.stringify(answer.body)).toBe(503);
      expect(answer.body).toEqual({ detail: expect.any(String) });
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({
        status: "degraded",
        backend: { name: "docker", ok: false, detail: expect.stringContaining("does not answer") },
      });
      const refused = await postJson(`${server.url}/v1/execute`, { code: "print(1)" });
      expect(refused.status).toBe(503);
    } finally {
      await engine.start();
    }
    const restartedAt = Math.floor(Date.now() / 1000) - 1;
    await waitFor("/health to be ok again", async () => (await fetch(`${server.url}/health`)).status === 200, 60_000);
    // Warm containers of the dead engine are gone; the pool builds new ones, and requests work meanwhile.
    await waitFor(
      "an execution to succeed",
      async () => (await postJson(`${server.url}/v1/execute`, { code: "print(6*7)" })).body.stdout === "42\n",
      60_000,
      1000,
    );
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    // SIGTERM took its sandboxes with it, warm ones included. Those the engine's death stranded (their
    // removal failed while it was down) are the reaper's, once past its grace: see the SIGKILL test.
    const mine = async () => (await containers("exec")).filter((container) => container.Created >= restartedAt);
    expect(await mine()).toEqual([]);
  });

  it("after SIGKILL during a one-shot execution, its container and the warm ones stop by themselves, and the next reaper pass removes them", async () => {
    const first = await start({ SANDBOX_POOL_MIN: "1" });
    // Its code has printed, so it runs (in a warm container or a fresh one: the pool decides).
    const inFlight = await streamUntilPrinted(first.url, "import time\nprint('started', flush=True)\ntime.sleep(50)", "started", 60_000);
    await waitFor("a warm container to wait beside it", async () => {
      const running = (await containers("exec")).filter((c) => c.State === "running");
      return running.length >= 2 && running.some((c) => c.Labels["code-interpreter.warm"] === "true");
    });
    first.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    expect(await inFlight.rest()).not.toContain("event: result");
    // No server is left: each runner saw its connection close, ended its code and exited. The code
    // would sleep 50 s more; this waits at most 20.
    await waitFor(
      "every one-shot container to stop",
      async () => (await containers("exec")).every((c) => c.State !== "running"),
      20_000,
      500,
    );
    const second = await start({ SANDBOX_POOL_MAX: "0" });
    await waitFor("the stopped containers to be reaped", async () => (await containers("exec")).length === 0, 20_000, 500);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });

  it("after SIGKILL, a restarted server serves live sessions and reaps the dead one's one-shot containers", async () => {
    // No pool: the start-up trial sandbox counts as demand, so a pool would hand this execution a warm
    // container, which the wait below cannot tell from idle ones (the test above covers warm containers).
    const first = await start({ SANDBOX_POOL_MAX: "0" });
    const session = (await postJson(`${first.url}/v1/sessions`, { ttl_seconds: 600 })).body.session_id as string;
    expect((await postJson(`${first.url}/v1/sessions/${session}/bash`, { cmd: "echo kept > state.txt" })).status).toBe(200);
    const inFlight = postJson(`${first.url}/v1/execute`, { code: "import time\ntime.sleep(3)", timeout_ms: 5000 }).catch(
      (error: Error) => error,
    );
    await waitFor("the execution's container to run", async () =>
      (await containers("exec")).some((c) => c.State === "running" && c.Labels["code-interpreter.warm"] !== "true"),
    );
    first.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    expect(await inFlight).toBeInstanceOf(Error);

    const second = await start({ SANDBOX_POOL_MAX: "0" });
    // The test engine's image has bash but no coreutils: read the file with a builtin.
    const state = await postJson(`${second.url}/v1/sessions/${session}/bash`, { cmd: 'echo "$(< state.txt)"' });
    expect(state.body).toMatchObject({ stdout: "kept\n", exit_code: 0 });
    // The dead server's one-shot and warm containers stopped when their runners saw the connection
    // drop; the reaper removes stopped ones at its next pass.
    await waitFor("the orphaned one-shot containers to be reaped", async () => (await containers("exec")).length === 0, 60_000, 1000);
    expect((await containers("session")).map((c) => c.Names[0])).toEqual([`/${session}`]);
    expect((await fetch(`${second.url}/v1/sessions/${session}`, { method: "DELETE" })).status).toBe(204);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(await containers("session")).toEqual([]);
  });

  it("after SIGKILL with both pools on, mid-refill, the dead server's warm containers stop by themselves within the reaper interval + 10 s, and a restarted server removes them as fast; its sessions stay", async () => {
    const first = await start({ SANDBOX_POOL_MIN: "1", SESSION_POOL_MIN: "2", SESSION_POOL_MAX: "2" });
    const warm = (container: { Labels: Record<string, string> }) => container.Labels["code-interpreter.warm"] === "true";
    // Both pools full: a warm one-shot container and two warm session containers, running.
    await waitFor("a warm one-shot and two warm session containers, running", async () => {
      const running = [...(await containers("exec")), ...(await containers("session"))].filter((c) => warm(c) && c.State === "running");
      return running.some((c) => c.Labels.component === "exec") && running.filter((c) => c.Labels.component === "session").length >= 2;
    });
    // A session made from the session pool: claimed, it must outlive its server, unlike the warm ones. Its claim
    // starts a refill, which the kill may catch anywhere: before the create, between create and start (a container
    // that never runs: the reaper's short grace for warm ones), or after.
    const session = (await postJson(`${first.url}/v1/sessions`, { ttl_seconds: 600 })).body.session_id as string;
    first.kill("SIGKILL");
    const killedAt = Date.now();
    expect(await first.exited).toBe("SIGKILL");
    const dead = async () => [...(await containers("exec")), ...(await containers("session"))].filter((c) => c.Names[0] !== `/${session}`);
    // No server: each warm container's main process saw its attach end and exited.
    await waitFor("every warm container to stop", async () => (await dead()).every((c) => c.State !== "running"), 11_000, 250);
    const stoppedAfterMs = Date.now() - killedAt;
    const left = (await dead()).map((c) => `${c.Labels.component} ${c.State}`).join(", ");

    const second = await start({ SANDBOX_POOL_MAX: "0" });
    const startedAt = Date.now();
    // Interval + 10 s, plus 4 s for Docker's whole-second creation times and a loaded machine's reaper pass.
    await waitFor("the dead server's warm containers to be removed", async () => (await dead()).length === 0, 15_000, 250);
    const removedAfterMs = Date.now() - startedAt;
    console.info(
      `docker: warm containers stopped ${stoppedAfterMs} ms after SIGKILL (${left}); all removed ${Date.now() - killedAt} ms after it (${removedAfterMs} ms after the restart)`,
    );
    const alive = await postJson(`${second.url}/v1/sessions/${session}/bash`, { cmd: "echo alive" });
    expect(alive.body).toMatchObject({ stdout: "alive\n", exit_code: 0 });
    expect((await containers("exec")).length).toBe(0);
    expect((await containers("session")).map((c) => c.Names[0])).toEqual([`/${session}`]);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});
