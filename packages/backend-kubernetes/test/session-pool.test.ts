import { type Backend, type SessionInfo, SessionNotFoundError } from "@code-interpreter/core";
import { newSessionId, unixNow } from "@code-interpreter/core/sandbox";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type KubernetesBackend, WARM_LABEL_KEY } from "../src/index.js";
import { KubernetesDriver } from "../src/kubernetes-driver.js";
import { createTestBackend, dockerAvailable, leftovers, namespace, startDouble, stopDouble } from "./support.js";

const POOL = { min: 1, max: 1, idleTimeoutMs: 60_000 };
const MAX_LIFETIME = 3600;
const notFound = (error: unknown) => SessionNotFoundError.isInstance(error);

/** Polls until `probe` answers (bounded, never a timing assertion). */
async function waitFor<T>(what: string, probe: () => T | undefined): Promise<T> {
  for (let attempt = 0; attempt < 1200; attempt++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** What code can observe of a session: its workspace, /tmp, its processes and environment, from Python and from bash. */
async function observe(backend: Backend, sessionId: string): Promise<string[]> {
  const processes = "import os; print(sorted(open(f'/proc/{p}/comm').read().strip() for p in os.listdir('/proc') if p.isdigit()))";
  const run = (language: "bash" | "python", code: string) => backend.runInSession({ sessionId, language, code, timeoutMs: 20_000 });
  // A fresh session starts its kernel and command runner on first use, a warm one has them already: use both first.
  await run("python", "pass");
  await run("bash", "true");
  const python = await run(
    "python",
    `import os\nprint(os.listdir('/workspace'), os.listdir('/tmp'), os.listdir('/dev/shm'))\n${processes}\nprint(sorted(k for k in os.environ if k != 'HOSTNAME'))`,
  );
  const bash = await run("bash", `ls -A /workspace /tmp /dev/shm; env | grep -v '^HOSTNAME=' | sort; python3 -c "${processes}"`);
  return [python.stdout, python.stderr, bash.stdout, bash.stderr];
}

describe.skipIf(!(await dockerAvailable()))("kubernetes session pool", { timeout: 180_000 }, () => {
  let double: KubernetesDouble;
  let pooled: KubernetesBackend;
  const warmSessionPods = () =>
    double
      .listPods(namespace)
      .filter((pod) => pod.metadata?.labels?.component === "session" && pod.metadata?.labels?.[WARM_LABEL_KEY] === "true");
  /** The warm session pod the pool holds, once it holds exactly one. */
  const waiting = () =>
    waitFor("a warm session pod", () => {
      const pods = warmSessionPods();
      return pooled.warmSessionCount === 1 && pods.length === 1 ? pods[0]?.metadata?.name : undefined;
    });

  beforeAll(async () => {
    double = await startDouble();
    pooled = await createTestBackend(double, { sessionPool: POOL, sessionMaxLifetimeSeconds: MAX_LIFETIME });
  });
  afterAll(async () => {
    await pooled?.close();
    if (double) await stopDouble(double);
  });

  it("makes a new session of the warm pod by one patch: its id, the tenant and expiry given, seen so by another replica", async () => {
    const warmId = await waiting();
    expect(warmId).toMatch(/^code-session-/);
    const warmPod = double.pod(namespace, warmId);
    // Its deadline leaves room for its wait and a whole session after it.
    expect(warmPod?.spec?.activeDeadlineSeconds).toBeGreaterThan(MAX_LIFETIME);
    expect(warmPod?.metadata?.annotations?.["code-interpreter.tenant"]).toBeUndefined();
    // Waiting unclaimed, it is no session: not found, not listed, no leftover.
    await expect(pooled.getSession(warmId)).rejects.toSatisfy(notFound);
    expect((await pooled.listSessions()).map((session) => session.id)).not.toContain(warmId);
    expect(await leftovers(double)).toEqual([]);

    const session = await pooled.createSession({ ttlSeconds: 600, tenant: "acme", files: [] });
    onTestFinished(() => pooled.deleteSession(session.id).catch(() => {}));
    expect(session.id).toBe(warmId);
    expect(session).toMatchObject({ tenant: "acme" });
    expect(session.expiresAt).toBeGreaterThanOrEqual(unixNow() + 590);
    const pod = double.pod(namespace, warmId);
    expect(pod?.metadata?.labels?.[WARM_LABEL_KEY]).toBeUndefined();
    expect(pod?.metadata?.annotations).toMatchObject({
      "code-interpreter.tenant": "acme",
      "code-interpreter.expires-at": String(session.expiresAt),
    });
    // The claim brought the deadline down to a session's whole lifetime from now.
    expect(pod?.spec?.activeDeadlineSeconds).toBeLessThanOrEqual(MAX_LIFETIME + 60);
    expect(await leftovers(double)).toContain(`pod ${warmId} (Running)`);

    const other = await createTestBackend(double, { sessionPool: false, sessionMaxLifetimeSeconds: MAX_LIFETIME });
    try {
      expect(await other.getSession(session.id)).toEqual(session);
      expect(await other.listSessions()).toEqual([session]);
      const answer = await other.runInSession({ sessionId: session.id, language: "bash", code: "echo hi", timeoutMs: 20_000 });
      expect(answer.stdout).toBe("hi\n");
    } finally {
      await other.close();
    }
    await pooled.deleteSession(session.id);
    expect(await leftovers(double)).toEqual([]);
  });

  it("neither finds nor lists an unclaimed warm pod, and reaps it once past its expiry, and only then", async () => {
    const reaper = await createTestBackend(double, { sessionPool: false });
    // The driver itself, as a server's session pool would make them (or a crashed one leave them).
    const driver = new KubernetesDriver(reaper.settings);
    const expired = newSessionId();
    const alive = newSessionId();
    try {
      await driver.createSession({ id: expired, expiresAt: unixNow() - 1, warm: true });
      await driver.createSession({ id: alive, expiresAt: unixNow() + 600, warm: true });
      const listed = (await reaper.listSessions()).map((session) => session.id);
      expect(listed).not.toContain(expired);
      expect(listed).not.toContain(alive);
      await expect(reaper.getSession(alive)).rejects.toSatisfy(notFound);
      // Reaped without being a session: it is not among the sessions removed.
      expect(await reaper.reapExpiredSessions()).toEqual([]);
      expect(double.pod(namespace, expired)).toBeUndefined();
      expect(double.pod(namespace, alive)).toBeDefined();
    } finally {
      await fetch(`${double.url}/api/v1/namespaces/${namespace}/pods/${alive}`, { method: "DELETE" });
      await reaper.close();
    }
  });

  it("gives a taken warm pod nothing a fresh one would not have: empty workspace and /tmp, the same processes and environment", async () => {
    const fresh = await createTestBackend(double, { sessionPool: false });
    let taken: SessionInfo | undefined;
    let made: SessionInfo | undefined;
    try {
      const warmId = await waiting();
      taken = await pooled.createSession({ ttlSeconds: 120, files: [] });
      expect(taken.id).toBe(warmId);
      made = await fresh.createSession({ ttlSeconds: 120, files: [] });
      const seen = await observe(pooled, taken.id);
      expect(seen[0]).toMatch(/^\[\] \[\] \[\]\n/);
      expect(seen[2]).toMatch(/^\/dev\/shm:\n\n\/tmp:\n\n\/workspace:\n[A-Z]/);
      expect(seen).toEqual(await observe(fresh, made.id));
    } finally {
      for (const id of [taken?.id, made?.id]) if (id) await pooled.deleteSession(id).catch(() => {});
      await fresh.close();
    }
  });
});
