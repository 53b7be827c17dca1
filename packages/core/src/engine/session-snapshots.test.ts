import { afterEach, describe, expect, it } from "vitest";
import type { Backend } from "../backend.js";
import { InvalidRequestError, NotSupportedError, PayloadTooLargeError, SessionNotFoundError } from "../errors.js";
import { deferred, FAKE_LIMITS, type FakeAnswer, FakeDriver } from "../testing/fake-driver.js";
import { MemorySnapshotStorage } from "../testing/memory-snapshot-storage.js";
import type { SandboxDriver } from "./driver.js";
import { FRESH_KERNEL_NOTICE, SandboxEngine, type SandboxEngineOptions } from "./sandbox-engine.js";
import { type SessionImage, SessionSnapshots, SnapshotRefusedError } from "./session-snapshots.js";

/**
 * Pause, resume and fork on the fake driver, with snapshots in an in-memory
 * record store (the file store's records stand behind the same interface in
 * the server; the shared snapshot suites, `apps/server/test/session-snapshots.*.test.ts`, cover them
 * end to end). Time moves only on the fake clock.
 */

const KEY = "a-test-snapshot-key-0123456789";
const engines: SandboxEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

function setUp(options: { key?: string; maxBytes?: number; storage?: MemorySnapshotStorage; snapshots?: false } = {}) {
  const driver = new FakeDriver({ singleUseCommandRunner: true });
  const storage = options.storage ?? new MemorySnapshotStorage();
  const snapshots = new SessionSnapshots({
    storage,
    key: options.key ?? KEY,
    ttlSeconds: 3600,
    maxBytes: options.maxBytes ?? 1024 * 1024,
    now: () => driver.clock.unixNow(),
  });
  const engineOptions: SandboxEngineOptions = { limits: FAKE_LIMITS, cgroup: true, clock: driver.clock, warn: () => {} };
  const engine = new SandboxEngine(driver, options.snapshots === false ? engineOptions : { ...engineOptions, snapshots });
  engines.push(engine as SandboxEngine);
  return { driver, engine, storage };
}

const bash = (sessionId: string, code = "true") => ({ sessionId, language: "bash" as const, code, timeoutMs: 5000 });
const python = (sessionId: string, code = "x + 1") => ({ sessionId, language: "python" as const, code, timeoutMs: 5000 });
const workspace = (driver: FakeDriver, sessionId: string) => driver.sandboxes.get(sessionId)?.workspace as Map<string, Buffer>;

/** A session with `notes.txt` in its workspace. */
async function sessionWithFile(driver: FakeDriver, engine: Backend, tenant?: string) {
  const session = await engine.createSession({ ttlSeconds: 600, files: [], ...(tenant ? { tenant } : {}) });
  workspace(driver, session.id).set("notes.txt", Buffer.from("kept"));
  return session;
}

describe("SandboxEngine: pause, resume and fork (issue 23)", () => {
  it("pause keeps the workspace in a signed snapshot and removes the sandbox; get and list say paused, without memory", async () => {
    const { driver, engine } = setUp();
    const session = await sessionWithFile(driver, engine, "acme");
    const paused = await engine.pauseSession(session.id);
    expect(paused).toMatchObject({ id: session.id, tenant: "acme", state: "paused", snapshot: { memory: false } });
    expect(paused.snapshot.bytes).toBeGreaterThan(0);
    expect(driver.liveSandboxes()).not.toContain(session.id);
    expect(await engine.getSession(session.id)).toMatchObject({ state: "paused", memory: false, tenant: "acme" });
    expect((await engine.listSessions()).map((listed) => [listed.id, listed.state])).toEqual([[session.id, "paused"]]);
    // Pausing again answers the same; keepalive and files ask for a resume first.
    expect(await engine.pauseSession(session.id)).toMatchObject({ state: "paused", snapshot: paused.snapshot });
    await expect(engine.readSessionFiles(session.id)).rejects.toThrow(/is paused: resume it first/);
  });

  it("resume restores the workspace under the same id, and its next answer says a fresh kernel was started", async () => {
    const { driver, engine } = setUp();
    driver.respond = () => ({ stdout: "out\n" });
    const session = await sessionWithFile(driver, engine);
    await engine.pauseSession(session.id);
    const resumed = await engine.resumeSession(session.id, { ttlSeconds: 300 });
    expect(resumed).toMatchObject({ id: session.id, state: "running", expiresAt: driver.clock.unixNow() + 300 });
    expect(workspace(driver, session.id).get("notes.txt")?.toString()).toBe("kept");
    expect((await engine.getSession(session.id)).state ?? "running").toBe("running");
    const streamed: string[] = [];
    const first = await engine.runInSession({ ...python(session.id), onStderr: (text) => streamed.push(text) });
    expect(first.stderr.startsWith(FRESH_KERNEL_NOTICE)).toBe(true);
    expect(streamed[0]).toBe(FRESH_KERNEL_NOTICE);
    expect((await engine.runInSession(python(session.id))).stderr).toBe("");
    // The snapshot went once the session ran again: a second resume is a no-op.
    expect(await engine.resumeSession(session.id, { ttlSeconds: 300 })).toMatchObject({ state: "running" });
  });

  it("a command sent to a paused session resumes it first, with the lifetime it had left", async () => {
    const { driver, engine } = setUp();
    driver.respond = () => ({ stdout: "ran\n" });
    const session = await sessionWithFile(driver, engine);
    driver.clock.advance(100);
    await engine.pauseSession(session.id);
    const result = await engine.runInSession(bash(session.id, "cat notes.txt"));
    expect(result).toMatchObject({ exitCode: 0, stdout: "ran\n" });
    expect(result.stderr).toContain("a fresh Python kernel was started");
    const info = await engine.getSession(session.id);
    expect(info.state ?? "running").toBe("running");
    expect(info.expiresAt).toBe(driver.clock.unixNow() + 500);
    expect(workspace(driver, session.id).get("notes.txt")?.toString()).toBe("kept");
  });

  it("pausing while a command runs waits for it to end, then pauses with what it wrote", async () => {
    const { driver, engine } = setUp();
    const session = await sessionWithFile(driver, engine);
    const answer = deferred<FakeAnswer>();
    driver.respond = (request) => (request.header.snapshot ? {} : answer.promise);
    const command = engine.runInSession(bash(session.id, "sleep 5"));
    await new Promise((resolve) => setImmediate(resolve));
    let paused = false;
    const pause = engine.pauseSession(session.id).then((result) => {
      paused = true;
      return result;
    });
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(paused).toBe(false);
    workspace(driver, session.id).set("written.txt", Buffer.from("by the command"));
    answer.resolve({ stdout: "done\n" });
    expect(await command).toMatchObject({ stdout: "done\n" });
    await pause;
    await engine.resumeSession(session.id, { ttlSeconds: 60 });
    expect(workspace(driver, session.id).get("written.txt")?.toString()).toBe("by the command");
  });

  it("fork copies a running or a paused session into a new one of the same tenant; the copies change independently", async () => {
    const { driver, engine } = setUp();
    const source = await sessionWithFile(driver, engine, "acme");
    const fork = await engine.forkSession(source.id, { ttlSeconds: 120 });
    expect(fork.id).not.toBe(source.id);
    expect(fork).toMatchObject({ tenant: "acme", state: "running", expiresAt: driver.clock.unixNow() + 120 });
    workspace(driver, fork.id).set("notes.txt", Buffer.from("changed in the fork"));
    expect(workspace(driver, source.id).get("notes.txt")?.toString()).toBe("kept");
    workspace(driver, source.id).set("only-source.txt", Buffer.from("x"));
    expect(workspace(driver, fork.id).has("only-source.txt")).toBe(false);

    await engine.pauseSession(source.id);
    const fromPaused = await engine.forkSession(source.id, { ttlSeconds: 120 });
    expect(workspace(driver, fromPaused.id).get("only-source.txt")?.toString()).toBe("x");
    // The paused source stays paused.
    expect((await engine.getSession(source.id)).state).toBe("paused");
    expect((await engine.runInSession(python(fromPaused.id))).stderr).toContain("fresh Python kernel");
  });

  it("an unknown session is 404 for pause, resume and fork; delete removes a paused one's snapshot", async () => {
    const { driver, engine, storage } = setUp();
    for (const call of [
      () => engine.pauseSession("code-session-00000000-0000-4000-8000-000000000000"),
      () => engine.resumeSession("not-a-session", { ttlSeconds: 60 }),
      () => engine.forkSession("code-session-00000000-0000-4000-8000-000000000000", { ttlSeconds: 60 }),
    ]) {
      await expect(call()).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
    }
    const session = await sessionWithFile(driver, engine);
    await engine.pauseSession(session.id);
    await engine.deleteSession(session.id);
    expect(storage.records.size).toBe(0);
    await expect(engine.getSession(session.id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
  });

  it("refuses a tampered image, an altered record, a foreign key's snapshot and one moved to another id: nothing is restored", async () => {
    const storage = new MemorySnapshotStorage();
    const { driver, engine } = setUp({ storage });
    const session = await sessionWithFile(driver, engine, "acme");
    await engine.pauseSession(session.id);
    const image = `snapshots/${session.id}/filesystem.tar`;
    const record = `snapshots/${session.id}/record.json`;
    const original = { image: storage.records.get(image) as Buffer, record: storage.records.get(record) as Buffer };
    const sandboxesBefore = driver.sandboxes.size;
    const refused = async (pattern: RegExp) => {
      const error = await engine.resumeSession(session.id, { ttlSeconds: 60 }).catch((caught: unknown) => caught);
      expect(SnapshotRefusedError.isInstance(error) && InvalidRequestError.isInstance(error)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
      // Also a command, which would resume it: refused the same way.
      await expect(engine.runInSession(bash(session.id))).rejects.toThrow(pattern);
      expect(driver.sandboxes.size).toBe(sandboxesBefore);
    };

    const tampered = Buffer.from(original.image);
    tampered[tampered.indexOf("kept")] = "K".charCodeAt(0);
    storage.records.set(image, tampered);
    await refused(/image is not the one this server signed/);

    storage.records.set(image, original.image);
    const altered = JSON.parse(original.record.toString()) as Record<string, unknown>;
    storage.records.set(record, Buffer.from(JSON.stringify({ ...altered, tenant: "globex" })));
    await refused(/not signed by this server's key/);

    // The same snapshot under another key (another server, or SNAPSHOT_KEY changed).
    storage.records.set(record, original.record);
    const other = setUp({ storage, key: "another-servers-key-0123456789" });
    await expect(other.engine.resumeSession(session.id, { ttlSeconds: 60 })).rejects.toThrow(/not signed by this server's key/);

    // A genuine snapshot copied under another session's id.
    const elsewhere = "code-session-11111111-1111-4111-8111-111111111111";
    storage.records.set(`snapshots/${elsewhere}/record.json`, original.record);
    storage.records.set(`snapshots/${elsewhere}/filesystem.tar`, original.image);
    await expect(engine.resumeSession(elsewhere, { ttlSeconds: 60 })).rejects.toThrow(/not signed by this server's key/);

    // The untouched one still resumes; a tampered one can still be deleted.
    expect(await engine.resumeSession(session.id, { ttlSeconds: 60 })).toMatchObject({ state: "running" });
    await engine.deleteSession(elsewhere);
    expect(await storage.list(`snapshots/${elsewhere}`)).toEqual([]);
  });

  it("a snapshot over the size limit is refused with the reason, and the session keeps running", async () => {
    const { driver, engine, storage } = setUp({ maxBytes: 2048 });
    const session = await sessionWithFile(driver, engine);
    workspace(driver, session.id).set("big.bin", Buffer.alloc(4096));
    const error = await engine.pauseSession(session.id).catch((caught: unknown) => caught);
    expect(PayloadTooLargeError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/MAX_SNAPSHOT_MB.*keeps running/);
    expect(storage.records.size).toBe(0);
    expect((await engine.runInSession(bash(session.id))).exitCode).toBe(0);
    expect((await engine.getSession(session.id)).state ?? "running").toBe("running");
  });

  it.each([
    ["before its sandbox exists", "createSession"],
    ["while its workspace is put back", "startCommandRunner"],
  ] as const)("a delete racing a resume wins when it comes %s: no sandbox, no snapshot, the resume 404", async (_when, operation) => {
    const { driver, engine, storage } = setUp();
    const session = await sessionWithFile(driver, engine);
    await engine.pauseSession(session.id);
    const hold = driver.hold(operation);
    const resumed = engine.resumeSession(session.id, { ttlSeconds: 60 }).catch((caught: unknown) => caught);
    await hold.reached;
    const deleted = engine.deleteSession(session.id);
    // The delete does not wait for the resume: it is done while the resume is still held.
    await deleted;
    hold.release();
    expect(SessionNotFoundError.isInstance(await resumed)).toBe(true);
    expect(driver.liveSandboxes()).not.toContain(session.id);
    expect(storage.records.size).toBe(0);
    await expect(engine.getSession(session.id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
  });

  it("without a snapshot store, pause, resume and fork are not supported (501)", async () => {
    const { driver, engine } = setUp({ snapshots: false });
    const session = await sessionWithFile(driver, engine);
    for (const call of [
      () => engine.pauseSession(session.id),
      () => engine.resumeSession(session.id, { ttlSeconds: 60 }),
      () => engine.forkSession(session.id, { ttlSeconds: 60 }),
    ]) {
      await expect(call()).rejects.toSatisfy((error) => NotSupportedError.isInstance(error));
    }
  });
});

describe("SandboxEngine with a driver that keeps memory (gVisor's checkpoint on local)", () => {
  it("pause says memory: true, the driver gets the memory back, and no answer speaks of a fresh kernel", async () => {
    const { driver, engine } = setUp();
    const restored: SessionImage[] = [];
    const keepsMemory: Pick<SandboxDriver, "snapshotSession" | "restoreSession"> = {
      snapshotSession: async () => ({ filesystem: Buffer.from("a tar"), memory: Buffer.from("its processes") }),
      restoreSession: async (_session, image) => void restored.push(image),
    };
    Object.assign(driver, keepsMemory);
    const session = await engine.createSession({ ttlSeconds: 600, files: [] });
    expect(await engine.pauseSession(session.id)).toMatchObject({ memory: true, snapshot: { memory: true, bytes: 18 } });
    const resumed = await engine.runInSession(python(session.id));
    expect(resumed.stderr).not.toContain(FRESH_KERNEL_NOTICE);
    const fork = await engine.forkSession(session.id, { ttlSeconds: 600 });
    expect((await engine.runInSession(python(fork.id))).stderr).not.toContain(FRESH_KERNEL_NOTICE);
    expect(restored.map((image) => image.memory?.toString())).toEqual(["its processes", "its processes"]);
  });
});

describe("SessionSnapshots: a memory part (a checkpointing runtime's)", () => {
  const session = { id: "code-session-00000000-0000-4000-8000-000000000001", runtime: "gvisor" as const, ttlSeconds: 600 };
  const image = { filesystem: Buffer.from("a tar"), memory: Buffer.from("a checkpoint") };
  const snapshotsOn = (storage: MemorySnapshotStorage, maxBytes = 1024) =>
    new SessionSnapshots({ storage, key: KEY, ttlSeconds: 3600, maxBytes, now: () => 1_000 });

  it("keeps it signed beside the filesystem, counts it in the size, and gives it back", async () => {
    const storage = new MemorySnapshotStorage();
    const paused = await snapshotsOn(storage).save(session, image);
    expect(paused.snapshot).toMatchObject({ memory: true, bytes: image.filesystem.length + image.memory.length });
    const loaded = await snapshotsOn(storage).load(session.id, "gvisor");
    expect(loaded?.image.memory?.toString()).toBe("a checkpoint");
    expect(loaded?.image.filesystem.toString()).toBe("a tar");
    await snapshotsOn(storage).remove(session.id);
    expect([...storage.records.keys()]).toEqual([]);
  });

  it("refuses a snapshot whose memory would pass MAX_SNAPSHOT_MB, keeping nothing", async () => {
    const storage = new MemorySnapshotStorage();
    const big = { filesystem: Buffer.alloc(600), memory: Buffer.alloc(600) };
    await expect(snapshotsOn(storage).save(session, big)).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(storage.records.size).toBe(0);
  });

  it("refuses, never restores, a memory image altered in the store, or a record that drops it", async () => {
    const storage = new MemorySnapshotStorage();
    await snapshotsOn(storage).save(session, image);
    const memoryName = `snapshots/${session.id}/memory.bin`;
    storage.records.set(memoryName, Buffer.from("a checkpoinT"));
    await expect(snapshotsOn(storage).load(session.id, "gvisor")).rejects.toThrow(/memory image is not the one this server signed/);
    storage.records.set(memoryName, Buffer.from("a checkpoint"));
    const recordName = `snapshots/${session.id}/record.json`;
    const record = JSON.parse(String(storage.records.get(recordName)));
    storage.records.set(recordName, Buffer.from(JSON.stringify({ ...record, memory: false, memory_bytes: undefined })));
    await expect(snapshotsOn(storage).load(session.id, "gvisor")).rejects.toBeInstanceOf(SnapshotRefusedError);
  });
});
