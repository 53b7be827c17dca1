import { afterEach, describe, expect, it } from "vitest";
import { BackendUnavailableError, SessionNotFoundError } from "../errors.js";
import { deferred, FAKE_LIMITS, type FakeAnswer, FakeDriver, type FakeDriverOptions, type FakeHold } from "../testing/fake-driver.js";
import type { FakeRunnerRequest } from "../testing/fake-runner.js";
import { WARM_SESSION_MAX_AGE_SECONDS } from "./deadlines.js";
import { SandboxEngine, type SandboxEngineOptions } from "./sandbox-engine.js";

/**
 * The engine over the fake driver: every race below is set up by holding a
 * driver operation or a runner's answer, and time moves only on the fake
 * clock. Nothing here waits on wall time.
 */

const LIMITS = FAKE_LIMITS;

const engines: SandboxEngine[] = [];

afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

function setUp(driverOptions: FakeDriverOptions | FakeDriver = {}, engineOptions: Partial<SandboxEngineOptions> = {}) {
  const driver = driverOptions instanceof FakeDriver ? driverOptions : new FakeDriver(driverOptions);
  const warnings: string[] = [];
  const engine = new SandboxEngine(driver, {
    limits: LIMITS,
    cgroup: true,
    clock: driver.clock,
    warn: (message) => warnings.push(message),
    ...engineOptions,
  });
  engines.push(engine as SandboxEngine);
  return { driver, engine, clock: driver.clock, warnings };
}

/** Lets the engine's pending work run (event-loop turns, no timers), until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1000; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error("the condition never held");
}

/** Runner answers a test gives when it likes: `next()` is the next request to arrive, `answer` ends it. */
/** Closes the engine while `held` has the driver paused, then lets the driver go on; resolves once closed. */
async function closeWhileHeld(engine: { close(): Promise<void> }, held: FakeHold): Promise<void> {
  await held.reached;
  const closing = engine.close();
  held.release();
  await closing;
}

function heldAnswers(driver: FakeDriver) {
  const waiting: { request: FakeRunnerRequest; answer: (answer: FakeAnswer) => void }[] = [];
  driver.respond = (request) => {
    const answer = deferred<FakeAnswer>();
    waiting.push({ request, answer: answer.resolve });
    return answer.promise;
  };
  return {
    async next() {
      await until(() => waiting.length > 0);
      return waiting.shift() as (typeof waiting)[number];
    },
    get count() {
      return waiting.length;
    },
  };
}

const bash = (sessionId: string, code = "true") => ({ sessionId, language: "bash" as const, code, timeoutMs: 5000 });
const python = (sessionId: string, code = "x = 1") => ({ sessionId, language: "python" as const, code, timeoutMs: 5000 });
const execution = (code = "print(1)") => ({ code, timeoutMs: 5000, lastLineInteractive: true, files: [] });

describe("SandboxEngine: one-shot executions", () => {
  it("runs each execution in a fresh sandbox that is removed once answered", async () => {
    const { driver, engine } = setUp({ respond: () => ({ stdout: "hello\n" }) });
    const result = await engine.execute(execution());
    expect(result).toMatchObject({ stdout: "hello\n", exitCode: 0, timedOut: false });
    await engine.whenIdle();
    expect(driver.liveSandboxes()).toEqual([]);
  });

  it("plans requests with the engine's own limits and environment", async () => {
    const { driver, engine } = setUp({}, { env: { EXTRA: "1" } });
    await engine.execute(execution());
    const [request] = driver.runners[0]?.requests ?? [];
    expect(request?.header.env).toMatchObject({ EXTRA: "1", OPENBLAS_NUM_THREADS: "2" });
    expect(request?.header.max_output_bytes).toBe(LIMITS.maxOutputBytes);
    expect(request?.header.limits).toMatchObject({ cpu_seconds: 10 });
  });

  it("takes a warm sandbox, claims it until the request's end, and refills the pool", async () => {
    const { driver, engine, clock } = setUp({}, { pool: { min: 1, max: 1, idleTimeoutMs: 60_000 }, preload: ["numpy"] });
    await until(() => engine.warmCount === 1);
    const [warm] = driver.liveSandboxes();
    expect(driver.sandboxes.get(warm as string)?.preload).toEqual(["numpy"]);
    await engine.execute(execution());
    expect(driver.calls.find((call) => call.operation === "claim")?.sandbox).toBe(warm);
    expect(driver.sandboxes.get(warm as string)?.expiresAt).toBe(clock.unixNow() + 15);
    await engine.whenIdle();
    expect(driver.sandboxes.get(warm as string)?.state).toBe("removed");
    await until(() => engine.warmCount === 1);
  });

  it("leaves a warm sandbox whose deadline comes before the request could end, and starts a fresh one", async () => {
    const { driver, engine, clock } = setUp({}, { pool: { min: 1, max: 1, idleTimeoutMs: 60_000 }, maxExecTimeoutMs: 60_000 });
    await until(() => engine.warmCount === 1);
    const [warm] = driver.liveSandboxes();
    const deadline = driver.sandboxes.get(warm as string);
    expect(deadline).toBeDefined();
    // Its lifetime covers the longest use, after its age limit: near the end, a 5 s request does not fit.
    clock.advance(600 + 60 + 70 - 10);
    await engine.execute(execution());
    expect(driver.calls.filter((call) => call.operation === "claim")).toEqual([]);
    await engine.whenIdle();
    expect(driver.sandboxes.get(warm as string)?.state).toBe("removed");
  });

  it("does not hand out a warm sandbox whose runner died while it waited", async () => {
    const { driver, engine } = setUp({}, { pool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    await until(() => engine.warmCount === 1);
    const [warm] = driver.liveSandboxes();
    driver.endSandbox(warm as string);
    expect((await engine.execute(execution())).exitCode).toBe(0);
    expect(driver.calls.filter((call) => call.operation === "claim")).toEqual([]);
    await engine.whenIdle();
    expect(driver.sandboxes.get(warm as string)?.state).toBe("removed");
  });

  it("an execution aborted while its sandbox starts leaves nothing behind", async () => {
    const { driver, engine } = setUp();
    const starting = driver.hold("start");
    const abort = new AbortController();
    const running = engine.execute({ ...execution(), signal: abort.signal });
    await starting.reached;
    abort.abort(new Error("the client went away"));
    starting.release();
    await expect(running).rejects.toThrow(/the client went away/);
    await engine.whenIdle();
    expect(driver.liveSandboxes()).toEqual([]);
  });

  it("removes a warm sandbox still being made when closed, and makes no more", async () => {
    const driver = new FakeDriver();
    // Held before the engine exists: its pool starts refilling at once.
    const starting = driver.hold("start");
    const { engine } = setUp(driver, { pool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    await closeWhileHeld(engine, starting);
    expect(driver.liveSandboxes()).toEqual([]);
    expect(driver.liveRunners()).toEqual([]);
    expect(driver.calls.filter((call) => call.operation === "start")).toHaveLength(1);
    expect(driver.closed).toBe(true);
  });

  it("refuses new work once closed, and stops the execution under way", async () => {
    const { driver, engine } = setUp();
    const answers = heldAnswers(driver);
    const running = engine.execute(execution());
    await answers.next();
    await engine.close();
    await expect(running).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(engine.execute(execution())).rejects.toThrow(/shutting down/);
    expect(driver.liveRunners()).toEqual([]);
  });
});

describe("SandboxEngine: sessions", () => {
  it("caps a session's TTL at the longest lifetime", async () => {
    const { engine, clock } = setUp({}, { sessionMaxLifetimeSeconds: 100 });
    const session = await engine.createSession({ ttlSeconds: 1000, files: [] });
    expect(session.expiresAt).toBe(clock.unixNow() + 100);
    expect((await engine.extendSession(session.id, 5000)).expiresAt).toBe(clock.unixNow() + 100);
  });

  it("starts a session's runners with the engine's environment and runner limits", async () => {
    const { driver, engine } = setUp({}, { cgroup: false });
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    await engine.runInSession(python(id));
    const kernel = driver.calls.find((call) => call.operation === "startKernel");
    expect(kernel?.options).toMatchObject({
      env: { OPENBLAS_NUM_THREADS: "2" },
      limits: { addressSpaceBytes: LIMITS.memoryBytes, processes: LIMITS.processes },
    });
  });

  it("runs a session's commands one at a time, in arrival order", async () => {
    const { driver, engine } = setUp();
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    const answers = heldAnswers(driver);
    const first = engine.runInSession(bash(id, "first"));
    const second = engine.runInSession(bash(id, "second"));
    const one = await answers.next();
    expect(one.request.header.argv).toContain("first");
    expect(answers.count).toBe(0);
    one.answer({ stdout: "1" });
    const two = await answers.next();
    expect(two.request.header.argv).toContain("second");
    two.answer({ stdout: "2" });
    expect((await first).stdout).toBe("1");
    expect((await second).stdout).toBe("2");
  });

  it("removes an expired session on its next use and says it expired", async () => {
    const { driver, engine, clock } = setUp();
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    clock.advance(60);
    await expect(engine.runInSession(bash(id))).rejects.toThrow(/has expired/);
    expect(driver.sandboxes.get(id)?.state).toBe("removed");
  });

  it("fails a command whose runner crashed as the backend's error, saying how it ended, while the session lives on", async () => {
    const { driver, engine, warnings } = setUp({ respond: () => ({ crash: true }) });
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    const failed = engine.runInSession(bash(id));
    await expect(failed).rejects.toBeInstanceOf(BackendUnavailableError);
    // Read before the runner is stopped: after the stop, the platform would only tell of the stop.
    await expect(failed).rejects.toThrow("its runner ended: its process exited on its own; sandbox running");
    expect(warnings).toEqual([
      `the command runner of session ${id} ended during a command: its process exited on its own; sandbox running`,
    ]);
    driver.respond = () => ({ stdout: "again" });
    expect((await engine.runInSession(bash(id))).stdout).toBe("again");
  });

  it("replaces a single-use command runner after each answer, ready for the next command", async () => {
    const { driver, engine } = setUp({ singleUseCommandRunner: true });
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    await engine.runInSession(bash(id));
    await until(() => driver.runnersOf(id, "commands").length === 2);
    const [used, next] = driver.runnersOf(id, "commands");
    expect(used?.alive).toBe(false);
    expect(next?.alive).toBe(true);
    await engine.runInSession(bash(id));
    expect(next?.requests).toHaveLength(1);
  });
});

describe("SandboxEngine: races", () => {
  it.each([
    // A cell ends as 'deleted' too, not as a kernel restart.
    { what: "bash command", request: (id: string) => bash(id, "sleep 100") },
    { what: "Python cell", request: (id: string) => python(id, "while True: pass") },
  ])("a delete during a $what ends it as 'deleted', and leaves no runner", async ({ request }) => {
    const { driver, engine, warnings } = setUp();
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    const answers = heldAnswers(driver);
    const command = engine.runInSession(request(id));
    await answers.next();
    await engine.deleteSession(id);
    await expect(command).rejects.toThrow(SessionNotFoundError);
    await expect(command).rejects.toThrow(/deleted while the command ran/);
    expect(driver.liveRunners()).toEqual([]);
    expect(driver.liveSandboxes()).toEqual([]);
    // The engine let the runner go itself: no runner end to report.
    expect(warnings).toEqual([]);
  });

  it("a delete while the command runner is starting leaves that runner stopped", async () => {
    const { driver, engine } = setUp();
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    const starting = driver.hold("startCommandRunner");
    const command = engine.runInSession(bash(id));
    await starting.reached;
    await engine.deleteSession(id);
    starting.release();
    await expect(command).rejects.toThrow(SessionNotFoundError);
    expect(driver.liveRunners()).toEqual([]);
  });

  it("a reap during a command of an expired session ends it as 'deleted'", async () => {
    const { driver, engine, clock } = setUp();
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    const answers = heldAnswers(driver);
    const command = engine.runInSession(bash(id, "sleep 100"));
    await answers.next();
    clock.advance(61);
    expect(await engine.reapExpiredSessions()).toEqual([id]);
    await expect(command).rejects.toThrow(/deleted while the command ran/);
    expect(driver.liveRunners()).toEqual([]);
  });

  it("no single-use command runner is started for a session the reaper is removing", async () => {
    const { driver, engine, clock } = setUp({ singleUseCommandRunner: true });
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    await engine.runInSession(bash(id));
    await until(() => driver.runnersOf(id, "commands").length === 2);
    clock.advance(61);
    const removal = driver.hold("reap");
    const reaping = engine.reapExpiredSessions();
    await removal.reached;
    removal.release();
    await reaping;
    expect(driver.runnersOf(id, "commands")).toHaveLength(2);
    expect(driver.liveRunners()).toEqual([]);
  });

  it("two deletes of one session at once: one removes it, the other is told it was not found", async () => {
    const { driver, engine } = setUp();
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    const removing = driver.hold("removeSession");
    const first = engine.deleteSession(id);
    await removing.reached;
    const second = engine.deleteSession(id);
    await expect(second).resolves.toBeUndefined();
    removing.release();
    await expect(first).rejects.toThrow(SessionNotFoundError);
    expect(driver.sandboxes.get(id)?.state).toBe("removed");
  });

  it("a warm session is claimed with the session's expiry and tenant, its runners adopted", async () => {
    const { driver, engine, clock } = setUp({}, { sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    await until(() => engine.warmSessionCount === 1);
    const [warm] = driver.liveSandboxes();
    const session = await engine.createSession({ ttlSeconds: 300, tenant: "acme", files: [] });
    expect(session).toEqual({ id: warm, expiresAt: clock.unixNow() + 300, tenant: "acme" });
    await engine.runInSession(bash(session.id));
    expect(driver.runnersOf(session.id, "commands")).toHaveLength(1);
  });

  it("a warm session at the edge of its age limit is not claimed: a reaper may be taking it", async () => {
    const { driver, engine, clock } = setUp({}, { sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 }, startSeconds: 10 });
    await until(() => engine.warmSessionCount === 1);
    const [warm] = driver.liveSandboxes();
    clock.advance(WARM_SESSION_MAX_AGE_SECONDS + 10 - 3);
    const session = await engine.createSession({ ttlSeconds: 300, files: [] });
    expect(session.id).not.toBe(warm);
    expect(driver.calls.filter((call) => call.operation === "claimSession")).toEqual([]);
    await until(() => driver.sandboxes.get(warm as string)?.state === "removed");
    expect(driver.runnersOf(warm as string).every((runner) => !runner.alive)).toBe(true);
  });

  it("claim versus reap: a warm session reaped while being claimed gives way to a fresh session", async () => {
    const { driver, engine, clock, warnings } = setUp({}, { sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    await until(() => engine.warmSessionCount === 1);
    const [warm] = driver.liveSandboxes();
    const claiming = driver.hold("claimSession");
    const creating = engine.createSession({ ttlSeconds: 300, files: [] });
    await claiming.reached;
    // Another replica's reaper sees the warm sandbox past its age limit meanwhile.
    clock.advance(WARM_SESSION_MAX_AGE_SECONDS + 61);
    expect(await engine.reapExpiredSessions()).toEqual([]);
    expect(driver.sandboxes.get(warm as string)?.state).toBe("removed");
    claiming.release();
    const session = await creating;
    expect(session.id).not.toBe(warm);
    expect(warnings.join("\n")).toMatch(/could not claim the warm session/);
    expect((await engine.runInSession(bash(session.id))).exitCode).toBe(0);
    expect(driver.runnersOf(warm as string).every((runner) => !runner.alive)).toBe(true);
  });

  // A reaper acts on the inventory it took at the start of its pass: a claim whose record lands after that listing, and
  // after the warm age limit, is removed with the pass (issue 24's staggered-load candidate, on a machine so loaded
  // that a warm session took most of its age limit to start and its claim seconds to record).
  it("claim versus reap: a claim that completes past the claim margin gives way, since a reaper may have listed it unclaimed", async () => {
    const { driver, engine, clock, warnings } = setUp({}, { sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 }, startSeconds: 10 });
    await until(() => engine.warmSessionCount === 1);
    const [warm] = driver.liveSandboxes();
    // Still claimable (6 s before its age limit), so the claim starts.
    clock.advance(WARM_SESSION_MAX_AGE_SECONDS + 10 - 6);
    const claiming = driver.hold("claimSession");
    const creating = engine.createSession({ ttlSeconds: 300, files: [] });
    await claiming.reached;
    // The claim's record is slow to land; the age limit passes, and a reaper pass lists the warm session as unclaimed.
    clock.advance(6);
    const removal = driver.hold("reapRemove");
    const reaping = engine.reapExpiredSessions();
    await removal.reached;
    claiming.release();
    const session = await creating;
    removal.release();
    await reaping;
    expect(driver.sandboxes.get(warm as string)?.state).toBe("removed");
    expect(session.id).not.toBe(warm);
    expect(warnings.join("\n")).toMatch(/claimed too late/);
    expect((await engine.runInSession(bash(session.id))).exitCode).toBe(0);
  });

  it("claim versus reap: once claimed, a session's own expiry holds, not its warm age limit", async () => {
    const { driver, engine, clock } = setUp({}, { sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    await until(() => engine.warmSessionCount === 1);
    const session = await engine.createSession({ ttlSeconds: 3600, files: [] });
    clock.advance(WARM_SESSION_MAX_AGE_SECONDS + 61);
    expect(await engine.reapExpiredSessions()).toEqual([]);
    expect(driver.sandboxes.get(session.id)?.state).toBe("running");
    expect((await engine.runInSession(bash(session.id))).exitCode).toBe(0);
  });

  it("expiry during a claim: a session that expires while its command waits in the queue is removed, not run", async () => {
    const { driver, engine, clock } = setUp();
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    const answers = heldAnswers(driver);
    const first = engine.runInSession(bash(id, "first"));
    const second = engine.runInSession(bash(id, "second"));
    const one = await answers.next();
    clock.advance(60);
    one.answer({});
    await first;
    await expect(second).rejects.toThrow(/has expired/);
    expect(driver.sandboxes.get(id)?.state).toBe("removed");
  });

  it("a session created while the pool is making a warm session waits for that one instead of making another", async () => {
    const fake = new FakeDriver();
    const making = fake.hold("createSession");
    const { driver, engine } = setUp(fake, { sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    await making.reached;
    const creating = engine.createSession({ ttlSeconds: 300, files: [] });
    making.release();
    const session = await creating;
    expect(driver.sandboxes.get(session.id)?.warm).toBe(false);
    // The session is the warm one the pool was making: no second sandbox was made for it.
    expect([...driver.sandboxes.values()].filter((sandbox) => sandbox.kind === "session")[0]?.name).toBe(session.id);
  });

  it("the pools grow with demand only within warmPoolMemoryBytes, each sandbox counted at its memory limit", async () => {
    const { driver, engine } = setUp(
      {},
      { sessionPool: { min: 0, max: 16, idleTimeoutMs: 60_000 }, warmPoolMemoryBytes: 3 * LIMITS.memoryBytes },
    );
    const sessions = await Promise.all(Array.from({ length: 8 }, () => engine.createSession({ ttlSeconds: 300, files: [] })));
    await until(() => engine.warmSessionCount === 3);
    for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
    const warm = [...driver.sandboxes.values()].filter((sandbox) => sandbox.warm && sandbox.state === "running");
    expect(warm).toHaveLength(3);
    expect(sessions).toHaveLength(8);
  });

  it("a session pool refilling while the engine closes leaves no warm session behind", async () => {
    const { driver, engine } = setUp({}, { sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    const starting = driver.hold("startKernel");
    await closeWhileHeld(engine, starting);
    expect(driver.liveSandboxes()).toEqual([]);
    expect(driver.liveRunners()).toEqual([]);
  });

  it("close keeps sessions for the next server and lets go of their runners", async () => {
    const { driver, engine } = setUp();
    const { id } = await engine.createSession({ ttlSeconds: 60, files: [] });
    await engine.runInSession(python(id));
    await engine.close();
    expect(driver.sandboxes.get(id)?.state).toBe("running");
    expect(driver.liveRunners()).toEqual([]);
  });
});
