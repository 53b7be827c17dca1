import { join } from "node:path";
import { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { DOUBLE_IMAGE, doubleUnavailable } from "./support/double-needs.js";
import { postJson, type ServerProcess, startServerProcess, waitFor } from "./support/server-process.js";
import { stateDir } from "./support/temp-dirs.js";

// The server as a real process on the Kubernetes backend, talking to the Kubernetes API double over
// the wire (no cluster can run here); the double, in this test's process, runs pods on the local
// Docker engine, and outlives the server these tests kill.
const namespace = "code-interpreter-faults";
const image = DOUBLE_IMAGE;
const unavailable = await doubleUnavailable();
const reason = unavailable && `the Kubernetes fault tests need ${unavailable}`;
if (reason && process.env.CI === "true") throw new Error(reason);

const double = reason ? undefined : await KubernetesDouble.start({ runtime: "docker", image });
afterAll(() => double?.stop());
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function start(env: Record<string, string> = {}): Promise<ServerProcess> {
  const dir = await stateDir("ci-faults-kubernetes");
  cleanups.push(() => dir.remove());
  const kubeconfig = join(dir.path, "kubeconfig");
  await double?.writeKubeconfig(kubeconfig, namespace);
  const server = await startServerProcess({
    env: {
      EXECUTOR_BACKEND: "kubernetes",
      KUBECONFIG: kubeconfig,
      KUBERNETES_EXECUTOR_NAMESPACE: namespace,
      KUBERNETES_EXECUTOR_IMAGE: image,
      FILE_STORAGE_DIR: join(dir.path, "files"),
      SANDBOX_PRELOAD: "none",
      REAPER_INTERVAL_SEC: "1",
      // No session pool unless a test asks for it.
      SESSION_POOL_MAX: "0",
      ...env,
    },
  });
  cleanups.push(() => server.stop());
  return server;
}

const execPods = () => (double?.listPods(namespace) ?? []).filter((pod) => pod.metadata?.labels?.component === "exec");
const isRunning = (pod: ReturnType<typeof execPods>[number]) => pod.status?.phase === "Running" || pod.status?.phase === "Pending";

(reason ? describe.skip : describe)("the server process on the Kubernetes backend (API double)", { timeout: 300_000 }, () => {
  it("after SIGKILL during a one-shot execution, its pod ends by itself, and the next reaper pass deletes it", async () => {
    // No warm pool: a pod the server made and had not yet attached to when it died would wait for its
    // source (see runner-bootstrap.ts); this test is about one whose runner runs code.
    const first = await start({ SANDBOX_POOL_MAX: "0" });
    const inFlight = fetch(`${first.url}/v1/execute/stream`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "import time\nprint('started', flush=True)\ntime.sleep(50)", timeout_ms: 60_000 }),
    });
    const response = await inFlight;
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let received = "";
    while (!received.includes("started")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before the code started: ${received}`);
      received += Buffer.from(value).toString("utf8");
    }
    first.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    await reader.read().catch(() => undefined);
    // No server is left: each runner saw its connection close, ended its code and exited, which
    // ends its pod. The code would sleep 50 s more; this waits at most 20.
    await waitFor(
      "every one-shot pod to end",
      () => {
        const running = execPods().filter(isRunning);
        if (running.length)
          throw new Error(
            running
              .map((pod) => `${pod.metadata?.name} ${pod.metadata?.labels?.["code-interpreter.warm"] ? "warm" : ""} ${pod.status?.phase}`)
              .join(", "),
          );
        return true;
      },
      20_000,
      500,
    );
    const second = await start({ SANDBOX_POOL_MAX: "0" });
    await waitFor("the ended pod to be deleted", () => execPods().length === 0, 20_000, 500);
    await second.stop();
    expect(await double?.containers()).toEqual([]);
  });

  it("after SIGKILL with both pools on, mid-refill, the dead server's warm pods end by themselves within the reaper interval + 10 s, and a restarted server deletes them as fast; its sessions stay", async () => {
    const first = await start({ SANDBOX_POOL_MIN: "1", SESSION_POOL_MIN: "2", SESSION_POOL_MAX: "2" });
    const pods = () => double?.listPods(namespace) ?? [];
    await waitFor("a warm one-shot and two warm session pods, running", () => {
      const running = pods().filter((pod) => pod.metadata?.labels?.["code-interpreter.warm"] === "true" && pod.status?.phase === "Running");
      return (
        running.some((pod) => pod.metadata?.labels?.component === "exec") &&
        running.filter((pod) => pod.metadata?.labels?.component === "session").length >= 2
      );
    });
    // A session made from the session pool: claimed, it must outlive its server, unlike the warm ones. Its claim
    // starts a refill, which the kill may catch anywhere: a pod not created yet, pending, running but not attached
    // to yet (its main process gives up after core's WARM_ATTACH_SECONDS), or attached (it sees its input end).
    const session = (await postJson(`${first.url}/v1/sessions`, { ttl_seconds: 600 })).body.session_id as string;
    first.kill("SIGKILL");
    const killedAt = Date.now();
    expect(await first.exited).toBe("SIGKILL");
    const dead = () => pods().filter((pod) => pod.metadata?.name !== session);
    // A generous bound for a loaded machine; the time it took is printed.
    await waitFor("every pod of the dead server to end", () => dead().every((pod) => !isRunning(pod)), 25_000, 250);
    const endedAfterMs = Date.now() - killedAt;
    const left = dead()
      .map((pod) => `${pod.metadata?.labels?.component} ${pod.status?.phase}`)
      .join(", ");

    const second = await start({ SANDBOX_POOL_MAX: "0" });
    const startedAt = Date.now();
    await waitFor("the dead server's pods to be deleted", () => dead().length === 0, 15_000, 250);
    const deletedAfterMs = Date.now() - startedAt;
    console.info(`kubernetes: warm pods ended ${endedAfterMs} ms after SIGKILL (${left}); deleted ${deletedAfterMs} ms after the restart`);
    const alive = await postJson(`${second.url}/v1/sessions/${session}/bash`, { cmd: "echo alive" });
    expect(alive.body).toMatchObject({ stdout: "alive\n", exit_code: 0 });
    expect(pods().map((pod) => pod.metadata?.name)).toEqual([session]);
    expect((await fetch(`${second.url}/v1/sessions/${session}`, { method: "DELETE" })).status).toBe(204);
    await second.stop();
  });
});
