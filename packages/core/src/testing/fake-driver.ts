import type { BackendCapabilities, BackendHealth } from "../backend.js";
import type {
  CreateSessionSandboxOptions,
  OneShotSandbox,
  PersistentRunnerHandle,
  SandboxDriver,
  SessionRecord,
  StartSandboxOptions,
  StartSessionRunnerOptions,
} from "../engine/driver.js";
import { sandboxLimits } from "../engine/limits.js";
import { type ReapSubject, reapVerdict } from "../engine/reap-verdict.js";
import type { EngineClock } from "../engine/sandbox-engine.js";
import { newExecName } from "../sandbox/names.js";
import { type FakeAnswer, type FakeResponder, FakeRunner, type FakeRunnerKind } from "./fake-runner.js";

/**
 * A clock that moves only when told: `advance` it past an expiry instead of
 * waiting for one. Waits (the engine's pauses between liveness checks) move
 * it too and return at once, so no test waits on wall time.
 */
/** Limits for an engine on the FakeDriver: small, round figures a test can check the runner's request against. */
export const FAKE_LIMITS = sandboxLimits({
  maxOutputBytes: 1_000_000,
  memoryLimitMb: 256,
  cpuTimeLimitSec: 10,
  maxFileSizeMb: 10,
  workspaceSizeMb: 64,
  maxProcesses: 64,
  cpus: 2,
});

export class FakeClock implements EngineClock {
  constructor(private ms = Date.UTC(2030, 0, 1)) {}

  now(): number {
    return this.ms;
  }

  /** Now, in unix seconds. */
  unixNow(): number {
    return Math.floor(this.ms / 1000);
  }

  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }

  async wait(ms: number): Promise<void> {
    this.ms += ms;
  }
}

/** The driver operations a test can hold (see FakeDriver.hold). */
export type FakeOperation =
  | "start"
  | "claim"
  | "createSession"
  | "claimSession"
  | "findSession"
  | "listSessions"
  | "extendSession"
  | "removeSession"
  | "startKernel"
  | "startCommandRunner"
  | "reap"
  /** One removal of a reaper pass, after the pass listed what it removes (one call per sandbox it condemned). */
  | "reapRemove"
  | "health";

/**
 * One call of an operation held at its start until the test lets it go:
 * `reached` resolves once the call is waiting, `release` lets it carry on,
 * `fail` makes it throw instead (a platform error).
 */
export class FakeHold {
  private arrive!: () => void;
  private proceed!: () => void;
  private refuse!: (error: Error) => void;
  /** Resolves once a call of the operation has arrived and waits. */
  readonly reached = new Promise<void>((resolve) => {
    this.arrive = resolve;
  });
  private readonly gate = new Promise<void>((resolve, reject) => {
    this.proceed = resolve;
    this.refuse = reject;
  });

  constructor(readonly operation: FakeOperation) {}

  release(): void {
    this.proceed();
  }

  fail(error: Error): void {
    this.refuse(error);
  }

  /** For the driver: marks the arrival and waits for the test. */
  async pass(): Promise<void> {
    this.arrive();
    await this.gate;
  }
}

/** A session as the fake platform records it. */
export interface FakeSession extends SessionRecord {
  warm: boolean;
}

/** A one-shot sandbox of the fake platform. */
export interface FakeOneShot extends OneShotSandbox {
  readonly runner: FakeRunner;
}

/** What the fake platform holds for one sandbox: its records, state and files. */
export interface FakeSandboxRecord {
  name: string;
  kind: "one-shot" | "session";
  state: "running" | "ended" | "removed";
  warm: boolean;
  /** A one-shot's deadline or expiry (a warm one's age limit until claimed); a session's expiry. */
  expiresAt: number;
  createdAt: number;
  endedAt?: number;
  tenant?: string;
  /** What it was started with (its environment, preload). */
  env: Record<string, string>;
  preload: readonly string[];
  workspace: Map<string, Buffer>;
}

export interface FakeDriverOptions {
  clock?: FakeClock;
  /** Answers every runner request. @default exit 0, no output */
  respond?: FakeResponder;
  /** Sessions' command runners take one request each, like backend-local's. @default false */
  singleUseCommandRunner?: boolean;
  /** Whether warm session sandboxes can be claimed (a session pool). @default true */
  claimSessions?: boolean;
  /** Whether it says it can give sandboxes a way out (`capabilities.egress`). @default false */
  egress?: boolean;
}

/**
 * An in-memory SandboxDriver whose platform is a map, whose runners speak the
 * real wire protocol (FakeRunner), and whose every operation a test can hold
 * at its start (`hold`) to interleave it with another deterministically: a
 * claim with a reap, a delete with a command, a refill with close. Time is a
 * FakeClock. The reap uses core's `reapVerdict`, as the real drivers do.
 */
export class FakeDriver implements SandboxDriver<FakeSession, FakeOneShot> {
  readonly name = "fake";
  readonly capabilities: BackendCapabilities;
  readonly clock: FakeClock;
  /** Every call, in order: the operation and the sandbox it was about (when it was about one). */
  readonly calls: { operation: FakeOperation | "close"; sandbox?: string; options?: unknown }[] = [];
  /** Every sandbox it ever made, by name; removed ones stay, marked removed. */
  readonly sandboxes = new Map<string, FakeSandboxRecord>();
  /** Every runner it ever started. */
  readonly runners: FakeRunner[] = [];
  /** Answers every runner request; replace it to hold answers or fail them. */
  respond: FakeResponder;
  readonly claimSession?: SandboxDriver<FakeSession, FakeOneShot>["claimSession"];
  closed = false;
  private readonly holds = new Map<FakeOperation, FakeHold[]>();
  private readonly singleUse: boolean;

  constructor(options: FakeDriverOptions = {}) {
    this.capabilities = { sessions: true, statefulPython: true, ...(options.egress ? { egress: true } : {}) };
    this.clock = options.clock ?? new FakeClock();
    this.respond = options.respond ?? (() => ({}));
    this.singleUse = options.singleUseCommandRunner ?? false;
    if (options.claimSessions !== false) this.claimSession = (session, claim) => this.claimWarmSession(session, claim);
  }

  /** Holds the next call of `operation` (one more per call to hold) at its start; see FakeHold. */
  hold(operation: FakeOperation): FakeHold {
    const hold = new FakeHold(operation);
    this.holds.set(operation, [...(this.holds.get(operation) ?? []), hold]);
    return hold;
  }

  /** Names of sandboxes not removed (running or ended): what a leftover check would find. */
  liveSandboxes(): string[] {
    return [...this.sandboxes.values()].filter((record) => record.state !== "removed").map((record) => record.name);
  }

  /** Runners still running. */
  liveRunners(): FakeRunner[] {
    return this.runners.filter((runner) => runner.alive);
  }

  /** The runners started in a sandbox, oldest first. */
  runnersOf(sandbox: string, kind?: FakeRunnerKind): FakeRunner[] {
    return this.runners.filter((runner) => runner.sandbox === sandbox && (kind === undefined || runner.kind === kind));
  }

  /** The platform stops a sandbox (out of memory, a node gone): its runners end, its record says ended. */
  endSandbox(name: string): void {
    const record = this.record(name);
    record.state = "ended";
    record.endedAt = this.clock.unixNow();
    for (const runner of this.runnersOf(name)) runner.exit();
  }

  async start(options: StartSandboxOptions): Promise<FakeOneShot> {
    await this.pass("start", options.name, options);
    options.signal?.throwIfAborted();
    const name = options.name ?? newExecName();
    const record = this.add({ name, kind: "one-shot", warm: options.warm, expiresAt: options.expiresAt, env: options.env });
    record.preload = options.preload;
    const runner = this.startRunner(record, "one-shot", options.preload);
    void runner.channel.closed.then(() => {
      if (record.state === "running") {
        record.state = "ended";
        record.endedAt = this.clock.unixNow();
      }
    });
    return {
      name,
      runner,
      deadline: this.clock.unixNow() + options.lifetimeSeconds,
      warm: options.warm,
      channel: runner.channel,
      stop: async () => runner.exit(),
      exit: async () => ({ exit: "exit 137" }),
      remove: async () => this.removeRecord(record),
    };
  }

  async claim(sandbox: FakeOneShot, expiresAt: number): Promise<void> {
    await this.pass("claim", sandbox.name);
    const record = this.record(sandbox.name);
    if (record.state === "removed") return;
    record.warm = false;
    record.expiresAt = expiresAt;
  }

  async createSession(session: CreateSessionSandboxOptions, signal?: AbortSignal): Promise<FakeSession> {
    await this.pass("createSession", session.id, session);
    signal?.throwIfAborted();
    const record = this.add({
      name: session.id,
      kind: "session",
      warm: session.warm ?? false,
      expiresAt: session.expiresAt,
      env: session.env ?? {},
      tenant: session.tenant,
    });
    return this.sessionOf(record);
  }

  private async claimWarmSession(session: FakeSession, claim: { expiresAt: number; tenant?: string }): Promise<FakeSession> {
    await this.pass("claimSession", session.id, claim);
    const record = this.record(session.id);
    if (record.state === "removed") throw new Error(`the warm session sandbox ${session.id} is gone`);
    record.warm = false;
    record.expiresAt = claim.expiresAt;
    record.tenant = claim.tenant;
    return this.sessionOf(record);
  }

  async findSession(id: string): Promise<FakeSession | undefined> {
    await this.pass("findSession", id);
    const record = this.sandboxes.get(id);
    return record && record.kind === "session" && !record.warm && record.state !== "removed" ? this.sessionOf(record) : undefined;
  }

  async listSessions(): Promise<FakeSession[]> {
    await this.pass("listSessions");
    return [...this.sandboxes.values()]
      .filter((record) => record.kind === "session" && !record.warm && record.state !== "removed")
      .map((record) => this.sessionOf(record));
  }

  async extendSession(session: FakeSession, expiresAt: number): Promise<number> {
    await this.pass("extendSession", session.id, { expiresAt });
    this.record(session.id).expiresAt = expiresAt;
    return expiresAt;
  }

  async removeSession(session: FakeSession): Promise<boolean> {
    await this.pass("removeSession", session.id);
    const record = this.sandboxes.get(session.id);
    if (!record || record.state === "removed") return false;
    this.removeRecord(record);
    return true;
  }

  async startKernel(session: FakeSession, options: StartSessionRunnerOptions): Promise<PersistentRunnerHandle> {
    await this.pass("startKernel", session.id, options);
    return this.sessionRunner(session, "kernel");
  }

  async startCommandRunner(session: FakeSession, options: StartSessionRunnerOptions): Promise<PersistentRunnerHandle> {
    await this.pass("startCommandRunner", session.id, options);
    return { ...this.sessionRunner(session, "commands"), ...(this.singleUse ? { singleUse: true } : {}) };
  }

  async reap(now: number, beforeRemove: (sessionId: string) => Promise<void>): Promise<string[]> {
    await this.pass("reap");
    const reaped: string[] = [];
    // As a real reaper does: one inventory at the start of the pass, the verdicts on it, then the removals.
    const inventory = [...this.sandboxes.values()]
      .filter((record) => record.state !== "removed")
      .map((record) => ({ record, verdict: reapVerdict(this.subject(record), now) }));
    for (const { record, verdict } of inventory) {
      if (!verdict.remove) continue;
      await this.pass("reapRemove", record.name);
      if (verdict.session) await beforeRemove(record.name);
      // Listed, then removed: one removed meanwhile by someone else is gone already.
      if (this.sandboxes.get(record.name)?.state === "removed") continue;
      this.removeRecord(record);
      if (verdict.session) reaped.push(record.name);
    }
    return reaped;
  }

  async health(): Promise<BackendHealth> {
    await this.pass("health");
    return { ok: true };
  }

  async close(): Promise<void> {
    this.calls.push({ operation: "close" });
    this.closed = true;
  }

  private async pass(operation: FakeOperation, sandbox?: string, options?: unknown): Promise<void> {
    this.calls.push({ operation, sandbox, ...(options === undefined ? {} : { options }) });
    const queue = this.holds.get(operation);
    const hold = queue?.shift();
    if (hold) await hold.pass();
  }

  private add(fields: Pick<FakeSandboxRecord, "name" | "kind" | "warm" | "expiresAt" | "env" | "tenant">): FakeSandboxRecord {
    const record: FakeSandboxRecord = {
      ...fields,
      state: "running",
      createdAt: this.clock.unixNow(),
      preload: [],
      workspace: new Map(),
    };
    this.sandboxes.set(record.name, record);
    return record;
  }

  private record(name: string): FakeSandboxRecord {
    const record = this.sandboxes.get(name);
    if (!record) throw new Error(`no fake sandbox ${name}`);
    return record;
  }

  private removeRecord(record: FakeSandboxRecord): void {
    record.state = "removed";
    // Its processes go with it.
    for (const runner of this.runnersOf(record.name)) runner.exit();
  }

  private startRunner(record: FakeSandboxRecord, kind: FakeRunnerKind, preload?: readonly string[]): FakeRunner {
    const runner = new FakeRunner(record.name, kind, record.workspace, (request) => this.respond(request), { preload });
    this.runners.push(runner);
    return runner;
  }

  private sessionRunner(session: FakeSession, kind: "kernel" | "commands"): PersistentRunnerHandle {
    const record = this.record(session.id);
    if (record.state !== "running") throw new Error(`the session sandbox ${session.id} is ${record.state}`);
    const runner = this.startRunner(record, kind);
    let killed = false;
    return {
      channel: runner.channel,
      kill: async () => {
        killed = true;
        runner.exit();
      },
      // What a platform could still tell about the process: read after a kill, it would be the kill's doing.
      exitReport: async () => (killed ? "killed by the server" : `its process exited on its own; sandbox ${record.state}`),
    };
  }

  private sessionOf(record: FakeSandboxRecord): FakeSession {
    return {
      id: record.name,
      expiresAt: record.expiresAt,
      ...(record.tenant === undefined ? {} : { tenant: record.tenant }),
      ended: record.state === "ended",
      warm: record.warm,
    };
  }

  private subject(record: FakeSandboxRecord): ReapSubject {
    if (record.kind === "session")
      return { kind: "session", expiresAt: record.expiresAt, ended: record.state === "ended", warm: record.warm };
    return {
      kind: "one-shot",
      deadline: record.expiresAt,
      createdAt: record.createdAt,
      state: record.state === "ended" ? "ended" : "running",
      endedAt: record.endedAt,
      warm: record.warm,
    };
  }
}

export type { FakeAnswer, FakeResponder };

/** A promise and the functions that settle it, for answers a test gives when it likes. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
