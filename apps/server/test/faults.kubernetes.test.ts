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

  it("after SIGKILL with both pools on, the dead server's warm pods end by themselves within the reaper interval + 10 s, and a restarted server deletes them as fast; its sessions stay", async () => {
    const first = await start({ SANDBOX_POOL_MIN: "1", SESSION_POOL_MIN: "1", SESSION_POOL_MAX: "1" });
    const session = (await postJson(`${first.url}/v1/sessions`, { ttl_seconds: 600 })).body.session_id as string;
    expect((await postJson(`${first.url}/v1/sessions/${session}/bash`, { cmd: "echo kept > state.txt" })).status).toBe(200);
    const warm = () =>
      (double?.listPods(namespace) ?? []).filter(
        (pod) => pod.metadata?.labels?.["code-interpreter.warm"] === "true" && pod.metadata?.name !== session,
      );
    // Both pools full and attached: a warm pod the server made and had not attached to yet when it died
    // waits for its source until a reaper takes it (see runner-bootstrap.ts).
    await waitFor("a warm one-shot and a warm session pod, both running", () => {
      const pods = double?.listPods(namespace) ?? [];
      const running = warm().filter((pod) => pod.status?.phase === "Running");
      return (
        pods.every((pod) => pod.status?.phase === "Running") &&
        running.some((pod) => pod.metadata?.labels?.component === "exec") &&
        running.some((pod) => pod.metadata?.labels?.component === "session")
      );
    });
    // Attached once running: give the pools' last attach a moment.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    first.kill("SIGKILL");
    const killedAt = Date.now();
    expect(await first.exited).toBe("SIGKILL");
    await waitFor("every warm pod to end", () => warm().every((pod) => !isRunning(pod)), 11_000, 250);
    const endedAfterMs = Date.now() - killedAt;

    const second = await start({ SANDBOX_POOL_MAX: "0" });
    const startedAt = Date.now();
    await waitFor("the ended warm pods to be deleted", () => warm().length === 0, 11_000, 250);
    const deletedAfterMs = Date.now() - startedAt;
    console.info(`kubernetes: warm pods ended ${endedAfterMs} ms after SIGKILL; deleted ${deletedAfterMs} ms after the restart`);
    const state = await postJson(`${second.url}/v1/sessions/${session}/bash`, { cmd: "cat state.txt" });
    expect(state.body).toMatchObject({ stdout: "kept\n", exit_code: 0 });
    expect((double?.listPods(namespace) ?? []).map((pod) => pod.metadata?.name)).toEqual([session]);
    expect((await fetch(`${second.url}/v1/sessions/${session}`, { method: "DELETE" })).status).toBe(204);
    await second.stop();
  });
});
