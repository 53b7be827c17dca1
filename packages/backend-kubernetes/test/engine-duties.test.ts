import { SessionNotFoundError } from "@code-interpreter/core";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { KubernetesBackend } from "../src/index.js";
import { createTestBackend, dockerAvailable, leftovers, namespace, startDouble, stopDouble } from "./support.js";

const deletedWhileRunning = (error: unknown) =>
  SessionNotFoundError.isInstance(error) && (error as Error).message.includes("was deleted while the command ran");

/** A session command that prints `started` once it runs, and then sleeps; resolves `started` when that arrives. */
function sleeper(backend: KubernetesBackend, sessionId: string, language: "bash" | "python") {
  let printed = () => {};
  const started = new Promise<void>((resolve) => {
    printed = resolve;
  });
  const code = language === "bash" ? "echo started; sleep 30" : "import time\nprint('started', flush=True)\ntime.sleep(30)";
  const onOutput = (chunk: { data: string }) => chunk.data.includes("started") && printed();
  const command = backend.runInSession({ sessionId, language, code, timeoutMs: 40_000, onOutput });
  // Settled here too, so a failure before `started` is not an unhandled rejection.
  command.catch(() => {});
  return { command, started: Promise.race([started, command.then(() => {})]) };
}

describe.skipIf(!(await dockerAvailable()))("kubernetes health and session races", { timeout: 90_000 }, () => {
  let double: KubernetesDouble;
  let backend: KubernetesBackend;
  beforeAll(async () => {
    double = await startDouble();
    backend = await createTestBackend(double);
  });
  afterEach(async () => {
    double.faults.reset();
    expect(await leftovers(double)).toEqual([]);
  });
  afterAll(async () => {
    await backend?.close();
    if (double) await stopDouble(double);
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
    } finally {
      await stranded.close();
    }
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
    const session = await backend.createSession({ ttlSeconds: 2, files: [] });
    const { command, started } = sleeper(backend, session.id, "bash");
    await started;
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
