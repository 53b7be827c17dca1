import { SessionNotFoundError } from "@code-interpreter/core";
import { newExecName, newSessionId, unixNow } from "@code-interpreter/core/sandbox";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import Dockerode from "dockerode";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { KubernetesBackend } from "../src/index.js";
import { createTestBackend, dockerAvailable, image, leftovers, namespace, startDouble, stopDouble } from "./support.js";

const notFound = (error: unknown) => SessionNotFoundError.isInstance(error);

const deletedWhileRunning = (error: unknown) =>
  SessionNotFoundError.isInstance(error) && (error as Error).message.includes("was deleted while the command ran");

/** A session command that prints `started` once it runs, and then sleeps; resolves `started` when that arrives. */
function sleeper(backend: KubernetesBackend, sessionId: string, language: "bash" | "python") {
  let printed = () => {};
  const started = new Promise<void>((resolve) => {
    printed = resolve;
  });
  const code = language === "bash" ? "echo started; sleep 30" : "import time\nprint('started', flush=True)\ntime.sleep(30)";
  const onStdout = (data: string) => data.includes("started") && printed();
  const command = backend.runInSession({ sessionId, language, code, timeoutMs: 40_000, onStdout });
  // Settled here too, so a failure before `started` is not an unhandled rejection.
  command.catch(() => {});
  return { command, started: Promise.race([started, command.then(() => {})]) };
}

describe.skipIf(!(await dockerAvailable()))("kubernetes reaper and foreign pods", { timeout: 60_000 }, () => {
  let double: KubernetesDouble;
  let backend: KubernetesBackend;
  const warnings: string[] = [];
  const exists = (name: string) => double.pod(namespace, name) !== undefined;

  /** A pod made directly through the API, as an earlier server (or someone else) would have. */
  const foreignPod = (name: string, labels: Record<string, string>, expiresAt?: number, command = ["sleep", "300"]) =>
    double.createPodDirectly(namespace, {
      metadata: { name, labels, annotations: expiresAt === undefined ? {} : { "code-interpreter.expires-at": String(expiresAt) } },
      spec: {
        restartPolicy: "Never",
        containers: [{ name: "executor", image, command, securityContext: { runAsUser: 65532, runAsNonRoot: true } }],
      },
    });
  const session = { app: "code-interpreter", component: "session" };

  beforeAll(async () => {
    double = await startDouble();
    backend = await createTestBackend(double, { warn: (message) => warnings.push(message), sessionMaxLifetimeSeconds: 120 });
  });
  afterEach(async () => {
    double.faults.reset();
    for (const pod of double.listPods(namespace)) {
      await fetch(`${double.url}/api/v1/namespaces/${namespace}/pods/${pod.metadata?.name}`, { method: "DELETE" });
    }
    expect(await leftovers(double)).toEqual([]);
  });
  afterAll(async () => {
    await backend?.close();
    if (double) await stopDouble(double);
  });

  it("deletes expired session pods an earlier server left and keeps the live ones", async () => {
    const expired = newSessionId();
    const live = newSessionId();
    await foreignPod(expired, session, unixNow() - 10);
    await foreignPod(live, session, unixNow() + 600);
    expect((await backend.listSessions()).map((entry) => entry.id)).toEqual(expect.arrayContaining([expired, live]));
    expect(await backend.reapExpiredSessions()).toEqual([expired]);
    expect(exists(expired)).toBe(false);
    expect(exists(live)).toBe(true);
  });

  it("lets two replicas' reapers delete the same expired session pods at once, both without a failure", async () => {
    const other = await createTestBackend(double, { warn: (message) => warnings.push(message), sessionMaxLifetimeSeconds: 120 });
    try {
      const ids = [newSessionId(), newSessionId(), newSessionId()];
      for (const id of ids) await foreignPod(id, session, unixNow() - 10);
      warnings.length = 0;
      // The one that loses the race for a pod gets a 404 for it: that counts as deleted, not as a failure.
      const [fromOther, fromMine] = await Promise.all([other.reapExpiredSessions(), backend.reapExpiredSessions()]);
      expect([...fromOther, ...fromMine]).toEqual(expect.arrayContaining(ids));
      for (const id of ids) expect(exists(id)).toBe(false);
      expect(warnings).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it("deletes one-shot pods long past their deadline and leaves current ones alone", async () => {
    const stale = newExecName();
    const current = newExecName();
    await foreignPod(stale, { app: "code-interpreter", component: "exec" }, unixNow() - 3600);
    await foreignPod(current, { app: "code-interpreter", component: "exec" }, unixNow() + 3600);
    await backend.reapExpiredSessions();
    expect(exists(stale)).toBe(false);
    expect(exists(current)).toBe(true);
  });

  it("deletes warm pods an earlier server left: ended ones at once, waiting ones past their age limit; keeps the live ones", async () => {
    const warm = { app: "code-interpreter", component: "exec", "code-interpreter.warm": "true" };
    // A server that goes away hangs up on its warm pods, whose runners then see the end of their input and exit.
    const ended = newExecName();
    const stale = newExecName();
    const live = newExecName();
    await foreignPod(ended, warm, unixNow() + 600, ["true"]);
    await foreignPod(stale, warm, unixNow() - 3600);
    await foreignPod(live, warm, unixNow() + 600);
    for (let attempt = 0; attempt < 100 && double.pod(namespace, ended)?.status?.phase !== "Succeeded"; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(double.pod(namespace, ended)?.status?.phase).toBe("Succeeded");
    await backend.reapExpiredSessions();
    expect(exists(ended)).toBe(false);
    expect(exists(stale)).toBe(false);
    expect(exists(live)).toBe(true);
  });

  it("counts a pod that vanished between the list and the delete as gone", async () => {
    const vanishing = newSessionId();
    await foreignPod(vanishing, session, unixNow() - 10);
    double.faults.failNext({ verb: "DELETE", path: `/pods/${vanishing}`, status: 404 });
    expect(await backend.reapExpiredSessions()).toEqual([vanishing]);
    expect(warnings).toEqual([]);
  });

  it("goes on with the other pods when one delete keeps failing, and warns about it", async () => {
    const stuck = newSessionId();
    const other = newSessionId();
    await foreignPod(stuck, session, unixNow() - 10);
    await foreignPod(other, session, unixNow() - 10);
    double.faults.failNext({ verb: "DELETE", path: `/pods/${stuck}`, status: 500, times: 10 });
    expect(await backend.reapExpiredSessions()).toEqual([other]);
    expect(exists(stuck)).toBe(true);
    expect(warnings.splice(0)).toEqual([expect.stringContaining(`could not delete the pod ${stuck}`)]);
  });

  it("refuses to touch a pod named like a session that lacks our labels", async () => {
    const id = newSessionId();
    await foreignPod(id, {}, unixNow() - 10);
    await expect(backend.deleteSession(id)).rejects.toSatisfy(notFound);
    await expect(backend.getSession(id)).rejects.toSatisfy(notFound);
    await expect(backend.runInSession({ sessionId: id, language: "bash", code: "id", timeoutMs: 5000 })).rejects.toSatisfy(notFound);
    await expect(backend.readSessionFiles(id)).rejects.toSatisfy(notFound);
    await backend.reapExpiredSessions();
    expect(exists(id)).toBe(true);
  });

  it("keeps an extended expiry on the pod for the next server, capped at the pod's active deadline", async () => {
    const created = await backend.createSession({ ttlSeconds: 60, files: [] });
    const extended = await backend.extendSession(created.id, 90);
    expect(double.pod(namespace, created.id)?.metadata?.annotations?.["code-interpreter.expires-at"]).toBe(String(extended.expiresAt));
    const restarted = await createTestBackend(double);
    try {
      expect(await restarted.getSession(created.id)).toEqual(extended);
    } finally {
      await restarted.close();
    }
    const capped = await backend.extendSession(created.id, 3600);
    expect(capped.expiresAt).toBeLessThanOrEqual(unixNow() + 120);
    await backend.deleteSession(created.id);
  });

  it("treats a session whose pod has ended as gone, and deletes it", async () => {
    const created = await backend.createSession({ ttlSeconds: 300, files: [] });
    // Code cannot stop its own pod (pid 1 ignores it): end it from outside, as a node failure would.
    const container = (await double.containers()).find((name) => name.includes(created.id));
    await new Dockerode().getContainer(container ?? "missing").kill();
    for (let attempt = 0; attempt < 50 && double.pod(namespace, created.id)?.status?.phase === "Running"; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await expect(backend.runInSession({ sessionId: created.id, language: "bash", code: "true", timeoutMs: 5000 })).rejects.toSatisfy(
      notFound,
    );
    expect(exists(created.id)).toBe(false);
  });

  it.each(["bash", "python"] as const)(
    "answers SessionNotFoundError when a session is deleted while its %s command runs",
    async (language) => {
      const session = await backend.createSession({ ttlSeconds: 300, files: [] });
      const { command, started } = sleeper(backend, session.id, language);
      await started;
      await backend.deleteSession(session.id);
      await expect(command).rejects.toSatisfy(deletedWhileRunning);
      expect(double.pod(namespace, session.id)).toBeUndefined();
      await expect(backend.runInSession({ sessionId: session.id, language: "bash", code: "true", timeoutMs: 5000 })).rejects.toSatisfy(
        (error) => SessionNotFoundError.isInstance(error),
      );
    },
  );

  it("answers SessionNotFoundError when a session expires and is reaped while its command runs", async () => {
    const session = await backend.createSession({ ttlSeconds: 300, files: [] });
    const { command, started } = sleeper(backend, session.id, "bash");
    await started;
    // Expires now that its command runs (a short TTL from the start could run out before the command began, under load).
    await backend.extendSession(session.id, 0);
    let reaped: string[] = [];
    for (let attempt = 0; attempt < 60 && !reaped.includes(session.id); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      reaped = await backend.reapExpiredSessions();
    }
    expect(reaped).toContain(session.id);
    await expect(command).rejects.toSatisfy(deletedWhileRunning);
    await expect(backend.getSession(session.id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
  });
});
