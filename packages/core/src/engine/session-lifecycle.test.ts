import { afterEach, describe, expect, it } from "vitest";
import { NotSupportedError, SessionNotFoundError, TooManyRequestsError } from "../errors.js";
import { FAKE_LIMITS, FakeDriver, type FakeOneShot, type FakeSession } from "../testing/fake-driver.js";
import { MemorySnapshotStorage } from "../testing/memory-snapshot-storage.js";
import { SandboxEngine } from "./sandbox-engine.js";
import { SessionSnapshots } from "./session-snapshots.js";
import { admitSnapshot, type SnapshotPolicy } from "./snapshot-admission.js";

/**
 * The lifecycle of paused sessions (issue 23) on the fake driver: on_expire
 * "pause", the lock that keeps two replicas (two engines on one platform and
 * one record store) from restoring or snapshotting a session both, and the
 * tenant's snapshot limits. `apps/server/test/durable-replicas.s3.test.ts`
 * runs the lock over the S3 store with two server processes.
 */

type FakeEngine = SandboxEngine<FakeSession, FakeOneShot>;

const engines: SandboxEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

/** `replicas` engines on one fake platform and one record store. */
function setUp(options: { replicas?: number; policy?: SnapshotPolicy; snapshots?: false } = {}) {
  const driver = new FakeDriver({ singleUseCommandRunner: true });
  const storage = new MemorySnapshotStorage();
  const warnings: string[] = [];
  const replicas = Array.from({ length: options.replicas ?? 1 }, () => {
    const snapshots = new SessionSnapshots({
      storage,
      key: "a-test-snapshot-key-0123456789",
      ttlSeconds: 3600,
      maxBytes: 1024 * 1024,
      now: () => driver.clock.unixNow(),
      ...(options.policy ? { admit: admitter(options.policy) } : {}),
    });
    const engine = new SandboxEngine(driver, {
      limits: FAKE_LIMITS,
      cgroup: true,
      clock: driver.clock,
      warn: (message) => warnings.push(message),
      ...(options.snapshots === false ? {} : { snapshots }),
    });
    engines.push(engine as SandboxEngine);
    return engine;
  });
  return { driver, storage, warnings, engine: replicas[0] as SandboxEngine, replicas };
}

/** The server's admission, with no stored files. */
function admitter(policy: SnapshotPolicy) {
  return async (tenant: string, bytes: number, snapshots: { count: number; bytes: number }) => {
    const decision = admitSnapshot(policy, { tenant, bytes, snapshots, fileBytes: 0 });
    if (!decision.allowed) throw new TooManyRequestsError({ message: decision.reason });
  };
}

const workspace = (driver: FakeDriver, sessionId: string) => driver.sandboxes.get(sessionId)?.workspace as Map<string, Buffer>;
const created = (driver: FakeDriver, sessionId: string) =>
  driver.calls.filter((call) => call.operation === "createSession" && call.sandbox === sessionId).length;
const imagesWritten = (storage: MemorySnapshotStorage, sessionId: string) =>
  storage.writes.filter((name) => name === `snapshots/${sessionId}/record.json`).length;

describe("on_expire: pause", () => {
  it("a session whose TTL runs out is paused by the reaper, a command resumes it, and it pauses again at its next expiry", async () => {
    const { driver, engine } = setUp();
    driver.respond = () => ({ stdout: "ran\n" });
    const session = await engine.createSession({ ttlSeconds: 60, files: [], onExpire: "pause" });
    workspace(driver, session.id).set("notes.txt", Buffer.from("kept"));
    driver.clock.advance(61);
    await engine.reapExpiredSessions();
    expect(await engine.getSession(session.id)).toMatchObject({ state: "paused", snapshot: { memory: false } });

    const result = await engine.runInSession({ sessionId: session.id, language: "bash", code: "cat notes.txt", timeoutMs: 5000 });
    expect(result.stderr).toContain("a fresh Python kernel was started");
    // Resumed with the lifetime it was given.
    expect(await engine.getSession(session.id)).toMatchObject({ expiresAt: driver.clock.unixNow() + 60 });
    expect(workspace(driver, session.id).get("notes.txt")?.toString()).toBe("kept");

    driver.clock.advance(61);
    await engine.reapExpiredSessions();
    expect((await engine.getSession(session.id)).state).toBe("paused");
  });

  it("a session paused at its expiry is gone from get and list after SESSION_SNAPSHOT_TTL_SECONDS", async () => {
    const { driver, engine } = setUp();
    const session = await engine.createSession({ ttlSeconds: 60, files: [], onExpire: "pause" });
    driver.clock.advance(61);
    await engine.reapExpiredSessions();
    expect((await engine.listSessions()).map((listed) => listed.state)).toEqual(["paused"]);
    driver.clock.advance(3600);
    await expect(engine.getSession(session.id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
    expect(await engine.listSessions()).toEqual([]);
  });

  it("a command that comes after the TTL but before the reaper finds the session paused and resumed, not gone", async () => {
    const { driver, engine } = setUp();
    const session = await engine.createSession({ ttlSeconds: 60, files: [], onExpire: "pause" });
    workspace(driver, session.id).set("notes.txt", Buffer.from("kept"));
    driver.clock.advance(61);
    const result = await engine.runInSession({ sessionId: session.id, language: "bash", code: "true", timeoutMs: 5000 });
    expect(result.stderr).toContain("fresh Python kernel");
    expect(workspace(driver, session.id).get("notes.txt")?.toString()).toBe("kept");
  });

  it("without on_expire (or with delete), an expired session is deleted as before, and keepalive keeps the pause", async () => {
    const { driver, engine } = setUp();
    const plain = await engine.createSession({ ttlSeconds: 60, files: [] });
    const pausing = await engine.createSession({ ttlSeconds: 60, files: [], onExpire: "pause" });
    await engine.extendSession(pausing.id, 600);
    driver.clock.advance(61);
    await engine.reapExpiredSessions();
    await expect(engine.getSession(plain.id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
    expect((await engine.getSession(pausing.id)).state ?? "running").toBe("running");
    driver.clock.advance(600);
    await engine.reapExpiredSessions();
    expect((await engine.getSession(pausing.id)).state).toBe("paused");
  });

  it("two replicas reaping one expired session at once pause it once", async () => {
    const { driver, storage, replicas } = setUp({ replicas: 2 });
    const [a, b] = replicas as [FakeEngine, FakeEngine];
    const session = await a.createSession({ ttlSeconds: 60, files: [], onExpire: "pause" });
    driver.clock.advance(61);
    await Promise.all([a.reapExpiredSessions(), b.reapExpiredSessions()]);
    expect(imagesWritten(storage, session.id)).toBe(1);
    expect((await b.getSession(session.id)).state).toBe("paused");
  });

  it("is refused where no snapshots are kept (501), and with network (422)", async () => {
    const { engine } = setUp({ snapshots: false });
    await expect(engine.createSession({ ttlSeconds: 60, files: [], onExpire: "pause" })).rejects.toSatisfy((error) =>
      NotSupportedError.isInstance(error),
    );
    const { engine: withSnapshots, driver } = setUp();
    const network = { allow_out: ["example.com"], deny_out: [] };
    await expect(withSnapshots.createSession({ ttlSeconds: 60, files: [], onExpire: "pause", network })).rejects.toThrow(
      /cannot be combined with `network`/,
    );
    expect(driver.liveSandboxes()).toEqual([]);
  });
});

describe("two replicas pausing, resuming and deleting one session", () => {
  it("resumes on A and B at once leave one running copy, restored once", async () => {
    const { driver, storage, replicas } = setUp({ replicas: 2 });
    const [a, b] = replicas as [FakeEngine, FakeEngine];
    const session = await a.createSession({ ttlSeconds: 600, files: [] });
    await a.pauseSession(session.id);
    const answers = await Promise.all([a.resumeSession(session.id, { ttlSeconds: 60 }), b.resumeSession(session.id, { ttlSeconds: 60 })]);
    expect(answers.map((answer) => answer.state)).toEqual(["running", "running"]);
    expect(created(driver, session.id)).toBe(2); // made, then restored once
    expect(driver.liveSandboxes()).toEqual([session.id]);
    expect(await storage.list(`snapshots/${session.id}`)).toEqual([]);
  });

  it("a pause on A and a resume on B at once leave one copy, running or paused, never both", async () => {
    const { driver, replicas } = setUp({ replicas: 2 });
    const [a, b] = replicas as [FakeEngine, FakeEngine];
    const session = await a.createSession({ ttlSeconds: 600, files: [] });
    await Promise.all([a.pauseSession(session.id), b.resumeSession(session.id, { ttlSeconds: 60 })]);
    const state = (await a.getSession(session.id)).state ?? "running";
    expect(driver.liveSandboxes()).toEqual(state === "running" ? [session.id] : []);
  });

  it("a resume racing a delete leaves nothing", async () => {
    const { driver, storage, replicas } = setUp({ replicas: 2 });
    const [a, b] = replicas as [FakeEngine, FakeEngine];
    const session = await a.createSession({ ttlSeconds: 600, files: [] });
    await a.pauseSession(session.id);
    await Promise.allSettled([b.resumeSession(session.id, { ttlSeconds: 60 }), a.deleteSession(session.id)]);
    await expect(a.getSession(session.id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
    expect(driver.liveSandboxes()).toEqual([]);
    expect([...storage.records.keys()]).toEqual([]);
  });
});

describe("a tenant's snapshot limits", () => {
  it("past TENANT_MAX_SNAPSHOTS a pause is refused (429) and the session keeps running", async () => {
    const { driver, engine } = setUp({ policy: { maxSnapshots: 1, maxStoredBytes: 1024 * 1024 } });
    const first = await engine.createSession({ ttlSeconds: 600, files: [], tenant: "acme" });
    const second = await engine.createSession({ ttlSeconds: 600, files: [], tenant: "acme" });
    const other = await engine.createSession({ ttlSeconds: 600, files: [], tenant: "globex" });
    await engine.pauseSession(first.id);
    const error = await engine.pauseSession(second.id).catch((caught: unknown) => caught);
    expect(TooManyRequestsError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/TENANT_MAX_SNAPSHOTS=1.*keeps running/);
    expect(driver.liveSandboxes()).toContain(second.id);
    // Another tenant's count is its own.
    expect((await engine.pauseSession(other.id)).state).toBe("paused");
  });
});

describe("admitSnapshot", () => {
  const policy = { maxSnapshots: 2, maxStoredBytes: 1000 };
  it.each([
    { snapshots: { count: 0, bytes: 0 }, fileBytes: 0, bytes: 1000, allowed: true, rule: undefined },
    { snapshots: { count: 2, bytes: 10 }, fileBytes: 0, bytes: 1, allowed: false, rule: "TENANT_MAX_SNAPSHOTS" },
    { snapshots: { count: 1, bytes: 400 }, fileBytes: 500, bytes: 101, allowed: false, rule: "TENANT_MAX_STORED_MB" },
    { snapshots: { count: 1, bytes: 400 }, fileBytes: 500, bytes: 100, allowed: true, rule: undefined },
  ])("$snapshots.count snapshots of $snapshots.bytes B, $fileBytes B of files, one of $bytes B: allowed $allowed", (row) => {
    const decision = admitSnapshot(policy, { tenant: "acme", ...row });
    expect(decision.allowed).toBe(row.allowed);
    expect("rule" in decision ? decision.rule : undefined).toBe(row.rule);
  });
});
