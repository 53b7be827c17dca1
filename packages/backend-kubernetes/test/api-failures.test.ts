import { BackendUnavailableError } from "@code-interpreter/core";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createKubernetesBackend, type KubernetesBackend } from "../src/index.js";
import { createTestBackend, dockerAvailable, image, leftovers, namespace, startDouble, stopDouble } from "./support.js";

const unavailable = (error: unknown) => BackendUnavailableError.isInstance(error);
const hello = { code: "print('hello')", timeoutMs: 10_000, lastLineInteractive: false, files: [] };

describe.skipIf(!(await dockerAvailable()))("kubernetes API failures", { timeout: 60_000 }, () => {
  let double: KubernetesDouble;
  let backend: KubernetesBackend;
  beforeAll(async () => {
    double = await startDouble();
    backend = await createTestBackend(double, { podStartTimeoutMs: 20_000 });
  });
  afterEach(async () => {
    double.faults.reset();
    expect(await leftovers(double)).toEqual([]);
  });
  afterAll(async () => {
    await backend?.close();
    if (double) await stopDouble(double);
  });

  it("retries a delete the API answers with 500 and then 409, and the one-shot pod is gone", async () => {
    double.faults.failNext({ verb: "DELETE", path: "/pods/code-exec-", status: 500 });
    double.faults.failNext({ verb: "DELETE", path: "/pods/code-exec-", status: 409 });
    const result = await backend.execute(hello);
    expect(result.stdout).toBe("hello\n");
    // The pod is deleted after the answer, in the background.
    await backend.whenIdle();
    expect(double.faults.pending()).toBe(0);
    const deletes = double.requests.filter((request) => request.verb === "DELETE").map((request) => request.status);
    expect(deletes).toEqual([500, 409, 200]);
  });

  it("answers BackendUnavailableError when the API fails to create the pod", async () => {
    double.faults.failNext({ verb: "POST", path: "/pods", status: 500 });
    await expect(backend.execute(hello)).rejects.toSatisfy(unavailable);
    await expect(backend.createSession({ ttlSeconds: 60, files: [] })).resolves.toBeDefined();
    for (const session of await backend.listSessions()) await backend.deleteSession(session.id);
  });

  it("fails within the start timeout, naming the image, when the image cannot be pulled, and deletes the pod", async () => {
    double.faults.makeImageUnpullable(image);
    const failure = backend.execute(hello);
    await expect(failure).rejects.toSatisfy(unavailable);
    await expect(failure).rejects.toThrow(`the image ${image} cannot be pulled (ErrImagePull`);
    await expect(backend.createSession({ ttlSeconds: 60, files: [] })).rejects.toThrow(image);
  });

  it("fails with the scheduler's message when no node can take the pod, and deletes the pod", async () => {
    double.faults.makeUnschedulable("0/3 nodes are available: 3 Insufficient memory.");
    const failure = backend.execute(hello);
    await expect(failure).rejects.toSatisfy(unavailable);
    await expect(failure).rejects.toThrow("no node can take it: 0/3 nodes are available: 3 Insufficient memory.");
  });

  it("fails with a clear error when the pod never gets going before the start timeout", async () => {
    const impatient = await createTestBackend(double, { podStartTimeoutMs: 1 });
    try {
      await expect(impatient.execute(hello)).rejects.toThrow(/did not start within 0 s \(phase Pending/);
    } finally {
      await impatient.close();
    }
  });

  it("says the API does not answer when nothing listens at its address", async () => {
    const config = double.kubeConfig(namespace);
    const cluster = config.getCurrentCluster();
    if (cluster) Object.assign(cluster, { server: "http://127.0.0.1:9" });
    const failure = createKubernetesBackend({ kubeConfig: config, namespace, image });
    await expect(failure).rejects.toSatisfy(unavailable);
    await expect(failure).rejects.toThrow("the Kubernetes API does not answer at http://127.0.0.1:9");
  });

  it("says which call was refused when the API answers 403", async () => {
    double.faults.failNext({ verb: "GET", path: "/pods", status: 403 });
    await expect(createTestBackend(double)).rejects.toThrow(/refused the server's credentials \(403/);
  });

  it("is healthy when the API answers and pods can be listed in the namespace", async () => {
    expect(await backend.health()).toEqual({ ok: true });
  });

  it("is not healthy when the API refuses the server's credentials, and says to apply the Role", async () => {
    double.faults.failNext({ verb: "GET", path: "/pods", status: 403 });
    const health = await backend.health();
    expect(health.ok).toBe(false);
    expect(health.detail).toContain(`cannot list pods in the namespace ${namespace}`);
    expect(health.detail).toMatch(/refused the server's credentials \(403.*apply the Role in deploy\//);
  });

  it("is not healthy when the API does not answer, and names its address", async () => {
    const other = await startDouble();
    const stranded = await createTestBackend(other);
    const url = other.url;
    try {
      await stopDouble(other);
      const health = await stranded.health();
      expect(health.ok).toBe(false);
      expect(health.detail).toContain(`the Kubernetes API does not answer at ${url}`);
      expect(health.detail).toContain("check that the cluster is up");
    } finally {
      await stranded.close();
    }
  });
});
