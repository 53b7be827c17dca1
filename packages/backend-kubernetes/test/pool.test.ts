import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecuteOptions } from "@code-interpreter/core";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubernetesBackend, WARM_LABEL_KEY } from "../src/index.js";
import { createTestBackend, dockerAvailable, image, leftovers, namespace, startDouble, stopDouble } from "./support.js";

/** Prints the pod it runs in (a pod's hostname is its name) and whether the data stack was loaded before it. */
const WHERE = "import socket, sys\nprint(socket.gethostname())\nprint('numpy' in sys.modules)";
const run = (backend: KubernetesBackend, code: string, extra: Partial<ExecuteOptions> = {}) =>
  backend.execute({ code, timeoutMs: 10_000, lastLineInteractive: false, files: [], ...extra });

/** Polls until `probe` answers (bounded, never a timing assertion); fails naming what did not happen. */
async function waitFor<T>(what: string, probe: () => T | undefined): Promise<T> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe.skipIf(!(await dockerAvailable()))("kubernetes warm pool", { timeout: 90_000 }, () => {
  let double: KubernetesDouble;
  let backend: KubernetesBackend;
  let ownerUid = "";
  // One-shot warm pods: the session pool's warm session pods (session-pool.test.ts) carry the label too.
  const warmPods = () =>
    double
      .listPods(namespace)
      .filter((pod) => pod.metadata?.labels?.component === "exec" && pod.metadata?.labels?.[WARM_LABEL_KEY] === "true");
  /** The name of the warm pod the pool holds, once it holds exactly one. */
  const pooled = () =>
    waitFor("a warm pod in the pool", () => {
      const pods = warmPods();
      return backend.warmPodCount === 1 && pods.length === 1 ? pods[0]?.metadata?.name : undefined;
    });

  beforeAll(async () => {
    double = await startDouble();
    ownerUid = double.addDeployment(namespace, "code-interpreter").uid;
    backend = await createTestBackend(double, { ownerDeployment: "code-interpreter", pool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
  });
  afterAll(async () => {
    await backend?.close();
    if (double) await stopDouble(double);
  });

  it("makes warm pods as one-shot pods of ours, labelled warm, owned like the others", async () => {
    const name = await pooled();
    const pod = double.pod(namespace, name);
    expect(name).toMatch(/^code-exec-[0-9a-f-]{36}$/);
    expect(pod?.metadata?.labels).toMatchObject({ app: "code-interpreter", component: "exec", [WARM_LABEL_KEY]: "true" });
    expect(pod?.metadata?.ownerReferences).toEqual([
      { apiVersion: "apps/v1", kind: "Deployment", name: "code-interpreter", uid: ownerUid, controller: false, blockOwnerDeletion: false },
    ]);
    expect(pod?.status?.phase).toBe("Running");
    expect(pod?.spec?.containers[0]).toMatchObject({ stdin: true, stdinOnce: true });
  });

  it("runs an execution in a warm pod with the data stack loaded, uses it once and deletes it", async () => {
    const warm = await pooled();
    const first = await run(backend, WHERE);
    expect(first).toMatchObject({ stdout: `${warm}\nTrue\n`, exitCode: 0 });
    // The pod is deleted after the answer, in the background.
    await backend.whenIdle();
    expect(double.pod(namespace, warm)).toBeUndefined();
    const next = await pooled();
    expect(next).not.toBe(warm);
    const second = await run(backend, WHERE);
    expect(second.stdout).toBe(`${next}\nTrue\n`);
  });

  it("takes the warm label off a pod it uses and moves its expiry to the request's end", async () => {
    const warm = await pooled();
    const created = Number(double.pod(namespace, warm)?.metadata?.annotations?.["code-interpreter.expires-at"]);
    const running = run(backend, "import time\ntime.sleep(2)", { timeoutMs: 5000 });
    const taken = await waitFor("the warm label to go", () => {
      const pod = double.pod(namespace, warm);
      return pod && pod.metadata?.labels?.[WARM_LABEL_KEY] === undefined ? pod : undefined;
    });
    expect(taken.metadata?.labels).toMatchObject({ app: "code-interpreter", component: "exec" });
    expect(Number(taken.metadata?.annotations?.["code-interpreter.expires-at"])).toBeLessThan(created);
    expect(await running).toMatchObject({ exitCode: 0, timedOut: false });
  });

  it("gives a request whose timeout would outlive the warm pod a fresh pod, and keeps the warm one", async () => {
    const warm = await pooled();
    const result = await run(backend, WHERE, { timeoutMs: 5_000_000 });
    expect(result.stdout).toMatch(/^code-exec-[0-9a-f-]{36}\nFalse\n$/);
    expect(result.stdout).not.toContain(warm);
    expect(double.pod(namespace, warm)?.metadata?.labels?.[WARM_LABEL_KEY]).toBe("true");
    await backend.whenIdle();
    expect(await leftovers(double)).toEqual([]);
  });

  it("leaves a warm pod that ends when its server is killed, and the next reaper deletes it", async () => {
    const before = new Set(warmPods().map((pod) => pod.metadata?.name));
    const dir = await mkdtemp(join(tmpdir(), "k8s-crash-"));
    try {
      await double.writeKubeconfig(join(dir, "kubeconfig"), namespace);
      // A server in its own process (the built package), with a warm pod, killed without a chance to clean up.
      // No session pool: a warm session pod does not end with its server (it waits out its age limit, then is reaped).
      const script = `import { createKubernetesBackend } from ${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)};
const backend = await createKubernetesBackend({ namespace: ${JSON.stringify(namespace)}, image: ${JSON.stringify(image)}, pool: { min: 1, max: 1, idleTimeoutMs: 60000 }, sessionPool: false });
while (backend.warmPodCount === 0) await new Promise((resolve) => setTimeout(resolve, 50));
console.log("ready");
setInterval(() => {}, 1000);`;
      const server = spawn(process.execPath, ["--input-type=module", "-e", script], {
        env: { ...process.env, KUBECONFIG: join(dir, "kubeconfig") },
        stdio: ["ignore", "pipe", "inherit"],
      });
      const exited = new Promise((resolve) => server.once("exit", resolve));
      await new Promise<void>((resolve, reject) => {
        server.stdout.on("data", (data: Buffer) => data.toString().includes("ready") && resolve());
        server.once("exit", (code) => reject(new Error(`the server process exited (${code}) before its pool was ready`)));
      });
      const left = warmPods().find((pod) => !before.has(pod.metadata?.name));
      const name = left?.metadata?.name ?? "missing";
      server.kill("SIGKILL");
      await exited;
      await waitFor("the orphaned warm pod to end", () => (double.pod(namespace, name)?.status?.phase === "Succeeded" ? true : undefined));
      await backend.reapExpiredSessions();
      expect(double.pod(namespace, name)).toBeUndefined();
      expect(backend.warmPodCount).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("deletes its warm pods on close, also those still starting", async () => {
    const other = await createTestBackend(double, { pool: { min: 3, max: 3, idleTimeoutMs: 60_000 } });
    await waitFor("a first warm pod", () => (other.warmPodCount > 0 ? true : undefined));
    await other.close();
    const mine = await pooled();
    expect(warmPods().map((pod) => pod.metadata?.name)).toEqual([mine]);
  });
});
