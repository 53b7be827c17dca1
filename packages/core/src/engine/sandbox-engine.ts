import {
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  type BackendCapabilities,
  type BackendHealth,
  type CommandResult,
  type CreateSessionOptions,
  type ExecuteOptions,
  type ExecutionResult,
  type PausedSessionInfo,
  type RunCallbacks,
  type SessionCommandOptions,
  type SessionInfo,
  type SessionLifetimeOptions,
} from "../backend.js";
import { BackendUnavailableError, InvalidRequestError, NotSupportedError, PayloadTooLargeError, SessionNotFoundError } from "../errors.js";
import type { EgressAttachment, EgressGateway, NetworkPolicy } from "../network/egress.js";
import { outputCallbacks } from "../output.js";
import type { RunnerLimits, RunnerRequest, RunnerResult } from "../runner/runner-protocol.js";
import { isSessionId, newExecName, newSessionId, sessionInfo } from "../sandbox/names.js";
import { packWorkspace, unpackWorkspace, type WorkspaceFileContent, type WorkspaceFileSink } from "../workspace/workspace-tar.js";
import {
  claimable,
  oneShotLifetimeSeconds,
  START_ALLOWANCE_SECONDS,
  sessionExpiry,
  useSeconds,
  WARM_MAX_AGE_SECONDS,
  WARM_SESSION_MAX_AGE_SECONDS,
  warmExpiry,
  warmLifetimeSeconds,
  warmSessionExpiry,
  withinMs,
} from "./deadlines.js";
import type {
  OneShotSandbox,
  PersistentRunnerHandle,
  RunnerHandle,
  SandboxDriver,
  SandboxEgress,
  SessionRecord,
  StartSessionRunnerOptions,
} from "./driver.js";
import { exchange } from "./exchange.js";
import { answerlessResult } from "./exchange-outcome.js";
import {
  changedFileSink,
  commandResult,
  DECLARED_ENV_VARIABLES,
  executionResult,
  planExecution,
  planPythonCell,
  planSessionCommand,
  type RunnerPlanSettings,
  WORKSPACE_DIR,
} from "./execution-plan.js";
import { KeyedQueue } from "./keyed-queue.js";
import { runnerPlan, type SandboxLimits } from "./limits.js";
import { PersistentRunner, PythonKernel } from "./persistent-runner.js";
import { SessionRunners } from "./session-runners.js";
import { type PausedSession, type SessionImage, SessionPausedError, type SessionSnapshots } from "./session-snapshots.js";
import { REFILL_HOLD_MS, SESSION_REFILL_HOLD_MS, WARM_POOL_SANDBOXES, WarmBudget, WarmPool } from "./warm-pool.js";

/** After a session's command failed, how often and how far apart its sandbox is looked at again (another replica's removal takes a moment to show). */
const LIVENESS_CHECKS = 3;
const LIVENESS_PAUSE_MS = 300;
/** The longest a failed command's answer waits for the driver to tell how its runner ended. */
const EXIT_REPORT_WAIT_MS = 5_000;

/** Where the engine reads the time and waits: the system's, or a test's. */
export interface EngineClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds. */
  wait(ms: number): Promise<void>;
}

/** The system's clock. */
export const SYSTEM_CLOCK: EngineClock = {
  now: () => Date.now(),
  wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** How many warm sandboxes (or sessions) a pool keeps: between `min` and `max`, by recent demand. */
export interface WarmPoolSettings {
  min: number;
  max: number;
  /** With no request for this long, the pool shrinks back to `min`. */
  idleTimeoutMs: number;
}

/** The engine's configuration: everything that is not a platform operation (those are the driver's). */
export interface SandboxEngineOptions {
  /** The size and resource limits of every sandbox (`sandboxLimits`). */
  limits: SandboxLimits;
  /** The platform bounds memory and processes with a cgroup; otherwise the runner sets rlimits for them. */
  cgroup: boolean;
  /**
   * The runner bounds processes with RLIMIT_NPROC even where there is a
   * cgroup: the sandbox has its own kernel (gVisor), so the rlimit counts
   * only its processes. @default false
   */
  processRlimit?: boolean;
  /** The sandbox's Python. @default "python3" */
  python?: string;
  /** Added to the code's environment (the declared one, and OPENBLAS_NUM_THREADS from `limits.cpus`). */
  env?: Record<string, string>;
  /** Warm one-shot sandboxes; false or absent: one is started per request. */
  pool?: WarmPoolSettings | false;
  /**
   * Warm session sandboxes, their command runner and kernel started: a
   * session is made by claiming one (the driver's `claimSession`). False or
   * absent: each session's sandbox is created when it is asked for.
   */
  sessionPool?: WarmPoolSettings | false;
  /**
   * The memory warm sandboxes of both pools may hold together, each counted
   * at its limit (`limits.memoryBytes`, what it may use once handed out):
   * the pools grow with demand beyond their `min` only within it.
   * @default WARM_POOL_SANDBOXES × limits.memoryBytes
   */
  warmPoolMemoryBytes?: number;
  /** Modules warm sandboxes preload. @default none */
  preload?: readonly string[];
  /**
   * The longest timeout a request may have (MAX_EXEC_TIMEOUT_MS): how long a
   * warm sandbox must be usable. Infinity: the platform sets its sandboxes no
   * deadline, so a warm one serves any timeout. @default Infinity
   */
  maxExecTimeoutMs?: number;
  /** Seconds a sandbox may take to start. @default START_ALLOWANCE_SECONDS */
  startSeconds?: number;
  /** The longest a session may live, its TTL capped there (SESSION_MAX_LIFETIME_SECONDS). @default no cap */
  sessionMaxLifetimeSeconds?: number;
  /** Told what went wrong in the background (a warm sandbox that would not start, a removal that failed). @default console.warn */
  warn?: (message: string) => void;
  /** @default SYSTEM_CLOCK */
  clock?: EngineClock;
  /**
   * The egress proxy (issue 22): requests with `network` get a way out through
   * it, in a sandbox started cold. Absent (or a driver without
   * `capabilities.egress`): such requests are refused with 422.
   */
  egress?: EgressGateway;
  /**
   * Where paused sessions' snapshots are kept, signed (issue 23): the
   * server's file store. Absent: pause, resume and fork answer 501.
   */
  snapshots?: SessionSnapshots;
}

/** Put before the first answer of a session resumed or forked without its kernel's memory: nothing is lost silently. */
export const FRESH_KERNEL_NOTICE =
  "[this session was restored from a snapshot without memory: a fresh Python kernel was started, so earlier variables and imports are gone; the workspace files were kept]\n";

/** A session's way out, held by the engine for the session's life. */
interface SessionEgress {
  attachment: EgressAttachment;
  policy: NetworkPolicy;
}

/** A session sandbox made ahead of demand, its command runner and kernel started. */
interface WarmSession<Session> {
  session: Session;
  commands: Promise<PersistentRunner>;
  kernel: Promise<PythonKernel>;
}

interface RunnerExchange extends RunCallbacks {
  request: RunnerRequest;
  signal?: AbortSignal;
}

/**
 * The Backend, written once over a SandboxDriver: one-shot executions in
 * fresh (or warm) sandboxes that are removed afterwards, and sessions whose
 * commands run one at a time, with a Python kernel each. A backend package is
 * a driver; `new SandboxEngine(driver, options)` is its Backend, configured by
 * `options` (limits, pools, deadlines), never by the driver.
 */
export class SandboxEngine<Session extends SessionRecord = SessionRecord, Sandbox extends OneShotSandbox = OneShotSandbox>
  implements Backend
{
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  private readonly pool: WarmPool<Sandbox> | undefined;
  private readonly sessionPool: WarmPool<WarmSession<Session>> | undefined;
  /** Work under way (for close). */
  private readonly pending = new Set<Promise<unknown>>();
  /** One-shot sandboxes in use, each with its stop (for close). */
  private readonly running = new Set<Sandbox>();
  /** Removals of finished one-shot sandboxes, still under way: the answer does not wait for them. */
  private readonly removals = new Set<Promise<void>>();
  private readonly kernels = new SessionRunners();
  /** Command runners of sessions, by session id (see SandboxDriver.startCommandRunner). */
  private readonly commandRunners = new SessionRunners();
  private readonly sessionQueue = new KeyedQueue();
  /** Sessions being removed right now: their commands fail on purpose. */
  private readonly removing = new Set<string>();
  /** Ways out of one-shot sandboxes still open (closed with their sandbox, and by close). */
  private readonly attachments = new Set<EgressAttachment>();
  /**
   * Ways out of sessions, by session id, for the session's life. Only in this
   * process: after a restart, or on another replica, the session has none.
   */
  private readonly sessionEgress = new Map<string, SessionEgress>();
  /** Sessions restored here without memory whose next answer has not yet said so (FRESH_KERNEL_NOTICE). */
  private readonly freshKernels = new Set<string>();
  /** Sessions whose lifecycle lock (SessionLifecycle.withLock) this process holds: work inside it does not take it again. */
  private readonly lockedSessions = new Set<string>();
  private closed = false;
  /** What every runner request is planned with (python, rlimits, env). */
  private readonly plan: RunnerPlanSettings & { limits: RunnerLimits; maxSnapshotBytes: number };
  private readonly limits: SandboxLimits;
  private readonly maxExecTimeoutMs: number;
  private readonly startSeconds: number;
  private readonly clock: EngineClock;
  private readonly warn: (message: string) => void;

  constructor(
    readonly driver: SandboxDriver<Session, Sandbox>,
    private readonly options: SandboxEngineOptions,
  ) {
    this.name = driver.name;
    this.capabilities = driver.capabilities;
    this.limits = options.limits;
    this.plan = runnerPlan(options.limits, {
      cgroup: options.cgroup,
      processRlimit: options.processRlimit,
      python: options.python,
      env: options.env,
    });
    this.maxExecTimeoutMs = options.maxExecTimeoutMs ?? Number.POSITIVE_INFINITY;
    this.startSeconds = options.startSeconds ?? START_ALLOWANCE_SECONDS;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.warn = options.warn ?? ((message) => console.warn(message));
    const preloadModules = options.preload ?? [];
    const budget = new WarmBudget(
      Math.floor((options.warmPoolMemoryBytes ?? WARM_POOL_SANDBOXES * options.limits.memoryBytes) / options.limits.memoryBytes),
    );
    if (options.pool) {
      const lifetimeSeconds = warmLifetimeSeconds(this.maxExecTimeoutMs, this.startSeconds);
      this.pool = new WarmPool<Sandbox>({
        ...options.pool,
        // Preloading costs each warm sandbox about a CPU-second: when refills cannot keep up, skip it.
        create: async () => {
          const preload = this.pool?.underPressure ? [] : preloadModules;
          const expiresAt = warmExpiry(this.unixNow(), this.startSeconds);
          const sandbox = await driver.start({ lifetimeSeconds, expiresAt, warm: true, preload, env: this.codeEnvVariables() });
          // Handed out once its preload is done: a request never waits for imports it may not need, and the
          // pool's create time (and so its size and pressure) is the real one.
          if (preload.length > 0) await sandbox.channel.ready;
          return sandbox;
        },
        destroy: (sandbox) => this.discard(sandbox),
        maxAgeMs: WARM_MAX_AGE_SECONDS * 1000,
        refillHoldMs: REFILL_HOLD_MS,
        budget,
        onError: (error) => this.warn(`could not start a warm sandbox: ${(error as Error).message}`),
      });
    }
    if (options.sessionPool && driver.claimSession) {
      this.sessionPool = new WarmPool<WarmSession<Session>>({
        ...options.sessionPool,
        create: () => this.startWarmSession(),
        destroy: (warm) => this.discardWarmSession(warm),
        maxAgeMs: WARM_SESSION_MAX_AGE_SECONDS * 1000,
        refillHoldMs: SESSION_REFILL_HOLD_MS,
        holdEndsOn: "next-take",
        budget,
        onError: (error) => this.warn(`could not start a warm session: ${(error as Error).message}`),
      });
    }
  }

  /** Warm sandboxes ready for a request right now (0 without a pool): for metrics and tests. */
  get warmCount(): number {
    return this.pool?.size ?? 0;
  }

  /** Warm session sandboxes ready for a session right now (0 without a session pool). */
  get warmSessionCount(): number {
    return this.sessionPool?.size ?? 0;
  }

  execute(options: ExecuteOptions): Promise<ExecutionResult> {
    return this.track(async () => {
      const started = this.clock.now();
      const request = planExecution(options, this.plan);
      options.signal?.throwIfAborted();
      // A sandbox with a way out is started cold with the proxy's settings in its environment: never a warm one.
      const name = options.network ? newExecName() : undefined;
      const attachment = await this.openEgress(name, options);
      if (attachment) request.env = { ...request.env, ...attachment.env };
      // A request that needs longer than warm sandboxes are kept usable for leaves them be.
      const pool = !attachment && useSeconds(request.timeoutMs) <= useSeconds(this.maxExecTimeoutMs) ? this.pool : undefined;
      let sandbox = pool && this.takeWarm(useSeconds(request.timeoutMs));
      try {
        const lifetimeSeconds = oneShotLifetimeSeconds(request.timeoutMs, this.startSeconds);
        sandbox ??= await this.driver.start({
          lifetimeSeconds,
          expiresAt: this.unixNow() + lifetimeSeconds,
          warm: false,
          preload: [],
          env: request.env ?? {},
          ...(attachment ? { name, ...sandboxEgress(attachment) } : {}),
          signal: options.signal,
        });
        const sandboxWaitMs = this.clock.now() - started;
        const result = await this.exchangeOnce(sandbox, {
          request,
          ...outputCallbacks(options),
          signal: options.signal,
          onFile: options.onFile && changedFileSink(options, options.onFile),
        });
        const network = attachment ? { network: attachment.drainAttempts() } : {};
        return { ...executionResult(options, result, this.clock.now() - started), sandboxWaitMs, ...network };
      } finally {
        pool?.release();
        // The sandbox is on its way out (exchangeOnce removes it whatever happened): so is its way out.
        if (attachment) await this.closeEgress(attachment);
      }
    });
  }

  createSession(options: CreateSessionOptions): Promise<SessionInfo> {
    return this.track(async () => {
      const expiresAt = sessionExpiry(this.unixNow(), options.ttlSeconds, this.options.sessionMaxLifetimeSeconds);
      if (options.onExpire === "pause") return this.createPausingSession(options);
      if (options.network) return this.createSessionWithEgress(options, expiresAt);
      this.refuseSecretsWithoutNetwork(options);
      const session =
        (await this.claimWarmSession(expiresAt, options.tenant)) ??
        (await this.driver.createSession(
          { id: newSessionId(), expiresAt, tenant: options.tenant, env: this.codeEnvVariables() },
          options.signal,
        ));
      return this.stageSessionFiles(session, options);
    });
  }

  /**
   * A session paused when its TTL runs out: its `on_expire` recorded in the
   * store, where whichever replica reaps it reads it. Refused where no
   * snapshots are kept (501) and with `network` (422: it could not be paused).
   */
  private async createPausingSession(options: CreateSessionOptions): Promise<SessionInfo> {
    const snapshots = this.snapshotsOrRefuse();
    if (options.network) {
      throw new InvalidRequestError({
        message: 'on_expire "pause" cannot be combined with `network`: a session with a way out cannot be paused yet',
      });
    }
    const session = await this.createSession({ ...options, onExpire: "delete" });
    try {
      await snapshots.lifecycle.setExpiryAction(session.id, "pause", Math.max(1, session.expiresAt - this.unixNow()));
    } catch (error) {
      await this.deleteSession(session.id).catch(() => {});
      throw error;
    }
    return session;
  }

  /** A session with a way out: its sandbox made cold, with the proxy's settings, its attachment kept for its life. */
  private async createSessionWithEgress(options: CreateSessionOptions, expiresAt: number): Promise<SessionInfo> {
    const id = newSessionId();
    const attachment = (await this.openEgress(id, options)) as EgressAttachment;
    const policy = options.network as NetworkPolicy;
    this.sessionEgress.set(id, { attachment, policy });
    try {
      const session = await this.driver.createSession(
        { id, expiresAt, tenant: options.tenant, env: { ...this.codeEnvVariables(), ...attachment.env }, ...sandboxEgress(attachment) },
        options.signal,
      );
      return await this.stageSessionFiles(session, options);
    } catch (error) {
      await this.forgetSessionEgress(id);
      throw error;
    }
  }

  /** Places the session's first files in its workspace; a session whose files could not be staged is removed. */
  private async stageSessionFiles(session: Session, options: CreateSessionOptions): Promise<SessionInfo> {
    try {
      if (options.files.length > 0) {
        await this.exchangeOnCommandRunner(session, {
          request: { cwd: WORKSPACE_DIR, files: options.files, maxOutputBytes: this.limits.maxOutputBytes },
          signal: options.signal,
        });
      }
    } catch (error) {
      await this.driver.removeSession(session).catch(() => {});
      throw error;
    }
    return this.withNetwork(sessionInfo(session));
  }

  getSession(sessionId: string): Promise<SessionInfo> {
    return this.translate(async () => {
      const session = isSessionId(sessionId) ? await this.driver.findSession(sessionId) : undefined;
      if (session) return this.withNetwork(sessionInfo(session));
      const paused = await this.findPaused(sessionId);
      if (paused) return pausedInfo(paused);
      throw notFound(sessionId);
    });
  }

  listSessions(): Promise<SessionInfo[]> {
    return this.translate(async () => {
      const running = (await this.driver.listSessions()).map((session) => this.withNetwork(sessionInfo(session)));
      const paused = this.options.snapshots ? await this.options.snapshots.list(this.runtime) : [];
      const ids = new Set(running.map((session) => session.id));
      return [...running, ...paused.filter((session) => !ids.has(session.id)).map(pausedInfo)];
    });
  }

  /**
   * Pauses a session: waits for the command it runs (commands of a session
   * run one at a time, and the pause takes its turn), keeps a signed
   * snapshot of its workspace, then removes its sandbox. A snapshot that
   * cannot be taken or kept (over MAX_SNAPSHOT_MB) leaves it running. A
   * session with `network` is refused (422): its way out is this process's.
   */
  pauseSession(sessionId: string): Promise<PausedSessionInfo> {
    return this.sessionQueue.run(sessionId, () =>
      this.track(async () => {
        this.snapshotsOrRefuse();
        if (!isSessionId(sessionId)) throw notFound(sessionId);
        // Under the session's lock: a pause or resume of it on another replica waits, then sees what this one did.
        return this.withSessionLock(sessionId, async () => {
          const session = await this.driver.findSession(sessionId);
          if (!session) {
            const paused = await this.findPaused(sessionId);
            if (paused) return pausedInfo(paused);
            throw notFound(sessionId);
          }
          const live = await this.liveSessionUnlessPaused(sessionId);
          if (!live) return pausedInfo((await this.findPaused(sessionId)) ?? throwNotFound(sessionId));
          return pausedInfo(await this.snapshotAndRemove(live, Math.max(1, live.expiresAt - this.unixNow())));
        });
      }),
    );
  }

  /** Keeps a signed snapshot of a session (its lock held), then removes its sandbox; one that cannot be kept leaves it running. */
  private async snapshotAndRemove(session: Session, ttlSeconds: number): Promise<PausedSession> {
    const snapshots = this.snapshotsOrRefuse();
    this.refuseSnapshotWithNetwork(session.id, "paused");
    const image = await this.captureSession(session);
    const paused = await snapshots.save({ id: session.id, tenant: session.tenant, runtime: this.runtime, ttlSeconds }, image);
    await this.removeSession(session);
    this.freshKernels.delete(session.id);
    return paused;
  }

  /**
   * A session past its TTL, made with on_expire "pause": paused (once,
   * whichever replica gets there first, under its lock) rather than just
   * removed. True when it is paused now, by this replica or another; false
   * when it goes as every other does (also when its snapshot could not be
   * kept: said in the log).
   */
  private async pauseExpired(session: Session): Promise<boolean> {
    const snapshots = this.options.snapshots;
    if (!snapshots || session.ended) return false;
    const { action, ttlSeconds } = await snapshots.lifecycle.expiryAction(session.id);
    if (action !== "pause") return false;
    return this.withSessionLock(session.id, async () => {
      if (await this.findPaused(session.id).catch(() => true)) return true;
      const current = await this.driver.findSession(session.id);
      if (!current || current.ended) return false;
      try {
        await this.snapshotAndRemove(current, ttlSeconds);
        return true;
      } catch (error) {
        this.warn(`could not pause the expired session ${session.id} (on_expire "pause"), so it is deleted: ${(error as Error).message}`);
        return false;
      }
    });
  }

  /** Runs `operation` holding the session's lifecycle lock (see SessionLifecycle.withLock); without snapshots, as it is. */
  private async withSessionLock<T>(sessionId: string, operation: () => Promise<T>): Promise<T> {
    const lifecycle = this.options.snapshots?.lifecycle;
    if (!lifecycle || this.lockedSessions.has(sessionId)) return operation();
    return lifecycle.withLock(sessionId, async () => {
      this.lockedSessions.add(sessionId);
      try {
        return await operation();
      } finally {
        this.lockedSessions.delete(sessionId);
      }
    });
  }

  /** Resumes a paused session in a fresh sandbox with its workspace; a running one answers as it is. */
  resumeSession(sessionId: string, options: SessionLifetimeOptions): Promise<SessionInfo> {
    return this.sessionQueue.run(sessionId, () =>
      this.track(async () => {
        this.snapshotsOrRefuse();
        if (!isSessionId(sessionId)) throw notFound(sessionId);
        const resumed = await this.resumePaused(sessionId, options.ttlSeconds);
        if (!resumed) throw notFound(sessionId);
        return resumed;
      }),
    );
  }

  /**
   * A new session of the same tenant with a copy of the workspace of a
   * running (it waits for the command it runs) or paused session; its
   * kernel goes on from the same state where the driver keeps memory
   * (gVisor), else starts fresh, and its first answer says so.
   */
  forkSession(sessionId: string, options: SessionLifetimeOptions): Promise<SessionInfo> {
    return this.sessionQueue.run(sessionId, () =>
      this.track(async () => {
        const snapshots = this.snapshotsOrRefuse();
        const running = isSessionId(sessionId) ? await this.driver.findSession(sessionId) : undefined;
        let source: { tenant?: string; image: SessionImage };
        const live = running && (await this.liveSessionUnlessPaused(sessionId));
        if (live) {
          this.refuseSnapshotWithNetwork(live.id, "forked");
          source = { tenant: live.tenant, image: await this.captureSession(live) };
        } else {
          const loaded = await snapshots.load(sessionId, this.runtime);
          if (!loaded) throw notFound(sessionId);
          source = { tenant: loaded.session.tenant, image: loaded.image };
        }
        const expiresAt = sessionExpiry(this.unixNow(), options.ttlSeconds, this.options.sessionMaxLifetimeSeconds);
        return this.restoreInto(newSessionId(), expiresAt, source.tenant, source.image);
      }),
    );
  }

  /**
   * Replaces a session's network policy: the gateway closes the connections
   * the new one forbids. 422 for a session that has no way out here.
   */
  updateSessionNetwork(sessionId: string, policy: NetworkPolicy): Promise<SessionInfo> {
    return this.translate(async () => {
      const session = await this.liveSession(sessionId);
      const egress = this.sessionEgress.get(session.id);
      if (!egress) {
        throw new InvalidRequestError({
          message: `session ${JSON.stringify(sessionId)} has no network: only a session created with \`network\` (by this server, since it started) can have its policy replaced`,
        });
      }
      await egress.attachment.update(policy);
      egress.policy = policy;
      return this.withNetwork(sessionInfo(session));
    });
  }

  extendSession(sessionId: string, ttlSeconds: number): Promise<SessionInfo> {
    return this.translate(async () => {
      const session = await this.liveSession(sessionId);
      const expiresAt = await this.driver.extendSession(
        session,
        sessionExpiry(this.unixNow(), ttlSeconds, this.options.sessionMaxLifetimeSeconds),
      );
      // Its `on_expire` record lives as long as it does (and its snapshot after it).
      await this.options.snapshots?.lifecycle.renew(session.id, Math.max(1, expiresAt - this.unixNow()));
      return sessionInfo({ ...session, expiresAt });
    });
  }

  deleteSession(sessionId: string): Promise<void> {
    return this.translate(async () => {
      if (!isSessionId(sessionId)) throw notFound(sessionId);
      const running = await this.driver.findSession(sessionId);
      // A paused one under its lock: a resume racing the delete either finishes first (then the delete removes what it made) or finds nothing.
      if (running) await this.deleteLocked(sessionId, running);
      else await this.withSessionLock(sessionId, () => this.deleteLocked(sessionId));
      await this.options.snapshots?.lifecycle.forget(sessionId);
    });
  }

  private async deleteLocked(sessionId: string, found?: Session): Promise<void> {
    const session = found ?? (await this.driver.findSession(sessionId));
    if (session) {
      // A snapshot a racing resume is restoring from goes first: the delete wins (resumePaused checks for it).
      await this.options.snapshots?.remove(sessionId);
      if (!(await this.removeSession(session))) throw notFound(sessionId);
      return;
    }
    // A paused session is its snapshot: deleting it removes that (one whose signature fails too).
    const paused = await this.findPaused(sessionId).then(
      (found) => found !== undefined,
      () => true,
    );
    if (!paused) throw notFound(sessionId);
    await this.options.snapshots?.remove(sessionId);
  }

  /** Commands of one session run one at a time, in arrival order, so they never interleave in its workspace. */
  runInSession(options: SessionCommandOptions): Promise<CommandResult> {
    return this.sessionQueue.run(options.sessionId, async () => {
      try {
        return await this.track(() => this.runInLiveOrPausedSession(options));
      } catch (error) {
        // A paused session's snapshot refused, or a bad request: said as it is.
        if (
          SessionNotFoundError.isInstance(error) ||
          InvalidRequestError.isInstance(error) ||
          (await this.stillUsable(options.sessionId))
        ) {
          throw error;
        }
        // Deleted or reaped while it ran, which killed its sandbox: say so rather than "the sandbox failed".
        throw new SessionNotFoundError({
          message: `Session ${JSON.stringify(options.sessionId)} was deleted while the command ran`,
          cause: error,
        });
      }
    });
  }

  readSessionFiles(sessionId: string, options: { onFile?: WorkspaceFileSink } = {}): Promise<WorkspaceFileContent[]> {
    return this.track(async () => {
      const session = await this.liveSession(sessionId);
      const { maxOutputBytes, workspaceBytes } = this.limits;
      const request = { cwd: WORKSPACE_DIR, snapshot: true, maxOutputBytes, maxSnapshotBytes: workspaceBytes };
      return (await this.exchangeOnCommandRunner(session, { request, onFile: options.onFile })).snapshot;
    });
  }

  health(): Promise<BackendHealth> {
    return this.driver.health();
  }

  reapExpiredSessions(): Promise<string[]> {
    return this.translate(async () => {
      // Sessions being reaped count as being removed until the pass is over: no runner is started for them meanwhile.
      const reaping: string[] = [];
      try {
        const reaped = await this.driver.reap(this.unixNow(), async (sessionId) => {
          reaping.push(sessionId);
          await this.pauseExpiredById(sessionId).catch((error: Error) =>
            this.warn(`could not pause the expired session ${sessionId}: ${error.message}`),
          );
          this.removing.add(sessionId);
          await this.stopSessionWork(sessionId);
        });
        await this.closeOrphanedEgress();
        return reaped;
      } finally {
        for (const sessionId of reaping) this.removing.delete(sessionId);
      }
    });
  }

  /** The reaper's turn at a session it is about to remove: an expired one with on_expire "pause" is paused first (after the command it runs). */
  private async pauseExpiredById(sessionId: string): Promise<void> {
    if (!this.options.snapshots) return;
    await this.sessionQueue.run(sessionId, async () => {
      const session = await this.driver.findSession(sessionId);
      if (session && session.expiresAt <= this.unixNow()) await this.pauseExpired(session);
    });
  }

  /** Closes the ways out of sessions whose sandbox is gone (deleted or reaped by another replica). */
  private async closeOrphanedEgress(): Promise<void> {
    for (const sessionId of [...this.sessionEgress.keys()]) {
      const session = await this.driver.findSession(sessionId).catch(() => null);
      // null: the platform could not say; the session keeps its way out until it can.
      if (session === undefined || session?.ended) await this.forgetSessionEgress(sessionId);
    }
  }

  /** Resolves when the sandboxes of finished executions have been removed (they go after the answer). */
  async whenIdle(): Promise<void> {
    while (this.removals.size > 0) await Promise.allSettled([...this.removals]);
  }

  /** Stops what runs and removes one-shot and warm sandboxes; sessions stay for the next server. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.pool?.close(), this.sessionPool?.close()]);
    // Kernels end with their connections; the sessions' files stay for the next server.
    this.kernels.forgetAll();
    this.commandRunners.forgetAll();
    await Promise.all([...this.running].map((sandbox) => sandbox.stop().catch(() => {})));
    await Promise.allSettled([...this.pending]);
    await this.whenIdle();
    // Sessions stay for the next server, but their ways out are this process's: they close with it.
    await Promise.all([...this.sessionEgress.keys()].map((sessionId) => this.forgetSessionEgress(sessionId)));
    await Promise.all([...this.attachments].map((attachment) => this.closeEgress(attachment)));
    await this.driver.close?.();
  }

  /**
   * Opens a sandbox's way out for a request with `network` (undefined
   * without one); 422 when this engine offers none, or (from the gateway)
   * when the policy or a secret is outside the operator's bounds.
   */
  private async openEgress(
    sandboxName: string | undefined,
    options: { network?: NetworkPolicy; secrets?: readonly string[]; tenant?: string },
  ): Promise<EgressAttachment | undefined> {
    if (!options.network) {
      this.refuseSecretsWithoutNetwork(options);
      return undefined;
    }
    const gateway = this.options.egress;
    if (!gateway || !this.driver.capabilities.egress) {
      throw new InvalidRequestError({
        message: gateway
          ? `this server offers no network egress on the ${this.name} backend: ${this.driver.egressRefusal ?? "its sandboxes cannot be given a way out yet"}; leave \`network\` out`
          : "this server offers no network egress (its operator set EGRESS_ALLOW=none); leave `network` out",
      });
    }
    const attachment = await gateway.open({
      sandboxName: sandboxName as string,
      ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
      policy: options.network,
      secrets: options.secrets ?? [],
    });
    this.attachments.add(attachment);
    return attachment;
  }

  private refuseSecretsWithoutNetwork(options: { secrets?: readonly string[] }): void {
    if (options.secrets?.length) {
      throw new InvalidRequestError({
        message:
          "secrets need `network`: the egress proxy adds them to the requests the code makes through it, and without `network` there is none",
      });
    }
  }

  private async closeEgress(attachment: EgressAttachment): Promise<void> {
    this.attachments.delete(attachment);
    await attachment.close().catch((error: Error) => this.warn(`could not close a sandbox's way out: ${error.message}`));
  }

  /** Closes a session's way out (its sandbox is gone, or this server is going). */
  private async forgetSessionEgress(sessionId: string): Promise<void> {
    const egress = this.sessionEgress.get(sessionId);
    if (!egress) return;
    this.sessionEgress.delete(sessionId);
    await this.closeEgress(egress.attachment);
  }

  /** The session as answers show it: with its network policy when it has a way out here. */
  private withNetwork(info: SessionInfo): SessionInfo {
    const egress = this.sessionEgress.get(info.id);
    return egress ? { ...info, network: egress.policy } : info;
  }

  /** The runtime this engine's sandboxes run on: a snapshot is resumed only on its own. */
  private get runtime() {
    return this.capabilities.runtime ?? "default";
  }

  private snapshotsOrRefuse(): SessionSnapshots {
    if (this.options.snapshots) return this.options.snapshots;
    throw new NotSupportedError({
      message: `the ${this.name} backend of this server keeps no session snapshots: sessions cannot be paused, resumed or forked`,
    });
  }

  private refuseSnapshotWithNetwork(sessionId: string, verb: string): void {
    if (this.sessionEgress.has(sessionId)) {
      throw new InvalidRequestError({
        message: `session ${JSON.stringify(sessionId)} has \`network\`: a session with a way out cannot be ${verb} yet (its way out belongs to this server process)`,
      });
    }
  }

  /** The paused session with this id on this engine's runtime, or undefined (also without snapshots). */
  private async findPaused(sessionId: string): Promise<PausedSession | undefined> {
    return this.options.snapshots?.find(sessionId, this.runtime);
  }

  /** The workspace of a session as an image: the driver's, or its regular files through its command runner. */
  private async captureSession(session: Session): Promise<SessionImage> {
    if (this.driver.snapshotSession) return this.driver.snapshotSession(session);
    const { maxOutputBytes, workspaceBytes } = this.limits;
    const request = { cwd: WORKSPACE_DIR, snapshot: true, maxOutputBytes, maxSnapshotBytes: workspaceBytes };
    const result = await this.exchangeOnCommandRunner(session, { request });
    if (result.snapshotTruncated || (result.skippedFiles?.length ?? 0) > 0) {
      const skipped = (result.skippedFiles ?? []).map((file) => `${file.path} (${file.reason})`).join(", ");
      throw new PayloadTooLargeError({
        message: `the session's workspace could not be captured whole${skipped ? `: ${skipped}` : ""}; it keeps running, nothing was paused`,
      });
    }
    return { filesystem: await packWorkspace(result.snapshot) };
  }

  /** Makes a session sandbox with this id and puts the image in it; one that could not be restored is removed. */
  private async restoreInto(id: string, expiresAt: number, tenant: string | undefined, image: SessionImage): Promise<SessionInfo> {
    const startedAt = this.unixNow();
    let session = await this.driver.createSession({ id, expiresAt, tenant, env: this.codeEnvVariables() });
    try {
      if (this.driver.restoreSession) await this.driver.restoreSession(session, image);
      else {
        const files = await unpackWorkspace(image.filesystem, { maxBytes: this.limits.workspaceBytes });
        if (files.length > 0) {
          await this.exchangeOnCommandRunner(session, {
            request: { cwd: WORKSPACE_DIR, files, maxOutputBytes: this.limits.maxOutputBytes },
          });
        }
      }
    } catch (error) {
      await this.removeSession(session).catch(() => {});
      throw error;
    }
    // Its lifetime counts from when it runs again: a slow restore (seconds on a busy engine) must not eat a short TTL.
    const spent = this.unixNow() - startedAt;
    if (spent >= 1) session = { ...session, expiresAt: await this.driver.extendSession(session, expiresAt + spent) };
    // With its memory back, its kernel goes on where it was: nothing to say.
    if (!image.memory) this.freshKernels.add(id);
    return { ...sessionInfo(session), state: "running" };
  }

  /** Resumes a paused session (verified first); undefined when there is none. Its snapshot goes once it runs again. */
  private async resumePaused(sessionId: string, ttlSeconds?: number): Promise<SessionInfo | undefined> {
    const snapshots = this.options.snapshots;
    if (!snapshots) return undefined;
    // Under its lock, so two replicas never restore it both: the second finds it running (or, on a backend of its own, gone).
    return this.withSessionLock(sessionId, async () => {
      const live = (await this.driver.findSession(sessionId)) && (await this.liveSessionUnlessPaused(sessionId));
      if (live) return { ...sessionInfo(live), state: "running" as const };
      const loaded = await snapshots.load(sessionId, this.runtime);
      if (!loaded) return undefined;
      const lifetime = ttlSeconds ?? loaded.session.ttlSeconds;
      const expiresAt = sessionExpiry(this.unixNow(), lifetime, this.options.sessionMaxLifetimeSeconds);
      let resumed: SessionInfo;
      try {
        resumed = await this.restoreInto(sessionId, expiresAt, loaded.session.tenant, loaded.image);
      } catch (error) {
        if (!(await this.stillPaused(sessionId))) throw notFound(sessionId);
        throw error;
      }
      // Deleted while it was restored (the delete removed the snapshot): the delete wins, and the new sandbox goes too.
      if (!(await this.stillPaused(sessionId))) {
        const restored = await this.driver.findSession(sessionId);
        if (restored) await this.removeSession(restored);
        this.freshKernels.delete(sessionId);
        throw notFound(sessionId);
      }
      await snapshots.remove(sessionId);
      // A session made with on_expire "pause" keeps it: its record now lasts its new lifetime.
      await snapshots.lifecycle.renew(sessionId, Math.max(1, expiresAt - this.unixNow()));
      return resumed;
    });
  }

  /** Whether the paused session's snapshot is still kept (one that fails its signature counts as kept). */
  private async stillPaused(sessionId: string): Promise<boolean> {
    return (await this.findPaused(sessionId).catch(() => true)) !== undefined;
  }

  /** A command: a session found paused (not running) is resumed first, and the answer starts with FRESH_KERNEL_NOTICE. */
  private async runInLiveOrPausedSession(options: SessionCommandOptions): Promise<CommandResult> {
    let result: CommandResult;
    try {
      result = await this.runWithNotice(options);
    } catch (error) {
      if (!SessionPausedError.isInstance(error) || !(await this.resumePaused(options.sessionId))) throw error;
      result = await this.runWithNotice(options);
    }
    return result;
  }

  private async runWithNotice(options: SessionCommandOptions): Promise<CommandResult> {
    if (!this.freshKernels.has(options.sessionId)) return this.runInLiveSession(options);
    this.freshKernels.delete(options.sessionId);
    options.onStderr?.(FRESH_KERNEL_NOTICE);
    const result = await this.runInLiveSession(options);
    return { ...result, stderr: FRESH_KERNEL_NOTICE + result.stderr };
  }

  /** Now, in unix seconds, on the engine's clock. */
  private unixNow(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  /** The code's environment, which sandboxes start with (preloaded modules and kernels read it when they import). */
  private codeEnvVariables(): Record<string, string> {
    return { ...DECLARED_ENV_VARIABLES, ...this.plan.env };
  }

  /** What a session's kernel or command runner is started with (the proxy's settings too, when it has a way out). */
  private sessionRunnerOptions(sessionId?: string): StartSessionRunnerOptions {
    const egressEnv = sessionId === undefined ? undefined : this.sessionEgress.get(sessionId)?.attachment.env;
    return { env: { ...this.codeEnvVariables(), ...egressEnv }, limits: this.plan.limits };
  }

  /**
   * A warm sandbox that can serve a request needing `seconds` more, or
   * undefined (then a fresh one is started). One that cannot — its connection
   * broke (the engine restarted), or its deadline is too near — is removed.
   */
  private takeWarm(seconds: number): Sandbox | undefined {
    const sandbox = this.pool?.take();
    if (!sandbox) return undefined;
    if (!sandbox.channel.ended && (sandbox.deadline === undefined || sandbox.deadline - this.unixNow() > seconds)) return sandbox;
    this.background(this.discard(sandbox));
    return undefined;
  }

  /**
   * A warm session sandbox made the new session, its runners adopted, or
   * undefined (then one is created): none waits, its runner ended, it is too
   * near its warm expiry (a reaper may be removing it), before the claim or
   * once the claim is recorded, or the claim failed (that sandbox is removed;
   * the session is made afresh).
   */
  private async claimWarmSession(expiresAt: number, tenant: string | undefined): Promise<Session | undefined> {
    // Waits for a warm session being made, when one is not already promised to an earlier caller.
    const warm = await this.sessionPool?.acquire();
    try {
      if (!warm) return undefined;
      const alive = await warm.commands.then(
        (runner) => runner.alive,
        () => false,
      );
      if (alive && claimable(warm.session.expiresAt, this.unixNow())) {
        const claim = this.driver.claimSession as NonNullable<SandboxDriver<Session, Sandbox>["claimSession"]>;
        const session = await claim.call(this.driver, warm.session, { expiresAt, tenant }).catch((error: Error) => {
          this.warn(`could not claim the warm session ${warm.session.id}: ${error.message}`);
          return undefined;
        });
        // A reaper condemns a warm sandbox on an inventory taken after its age limit passed: a claim whose record
        // landed once the sandbox was no longer claimable may be missing from that inventory, and go with its pass.
        if (session && !claimable(warm.session.expiresAt, this.unixNow())) {
          this.warn(
            `the warm session ${warm.session.id} was claimed too late (near its age limit, where a reaper may be removing it): a fresh session is made`,
          );
          this.background(this.discardWarmSession({ ...warm, session }).catch(() => {}));
          return undefined;
        }
        if (session) {
          this.commandRunners.adopt(session.id, warm.commands);
          this.kernels.adopt(session.id, warm.kernel);
          return session;
        }
      }
      this.background(this.discardWarmSession(warm).catch(() => {}));
      return undefined;
    } finally {
      this.sessionPool?.release();
    }
  }

  private async startWarmSession(): Promise<WarmSession<Session>> {
    const id = newSessionId();
    const session = await this.driver.createSession({
      id,
      expiresAt: warmSessionExpiry(this.unixNow(), this.startSeconds),
      warm: true,
      env: this.codeEnvVariables(),
    });
    const commands = this.startCommandRunner(session);
    const kernel = this.startKernel(session);
    try {
      await Promise.all([commands, kernel]);
    } catch (error) {
      await this.discardWarmSession({ session, commands, kernel });
      throw error;
    }
    return { session, commands, kernel };
  }

  private async discardWarmSession(warm: WarmSession<Session>): Promise<void> {
    for (const runner of [warm.commands, warm.kernel])
      void runner.then(
        (started) => started.dispose(),
        () => {},
      );
    await this.driver.removeSession(warm.session);
  }

  /** Has the one exchange with a one-shot sandbox, then removes it (in the background). */
  private async exchangeOnce(sandbox: Sandbox, runnerExchange: RunnerExchange): Promise<RunnerResult> {
    const claimed = sandbox.warm ? this.driver.claim?.(sandbox, this.unixNow() + useSeconds(runnerExchange.request.timeoutMs)) : undefined;
    this.running.add(sandbox);
    try {
      return await this.exchangeWith(sandbox, runnerExchange);
    } finally {
      this.running.delete(sandbox);
      this.background(
        (async () => {
          await claimed?.catch(() => {});
          await this.discard(sandbox);
        })().catch((error: Error) => this.warn(`could not remove ${sandbox.name}: ${error.message}`)),
      );
    }
  }

  /** One request to a session's sandbox, on its command runner. */
  private async exchangeOnCommandRunner(session: Session, runnerExchange: RunnerExchange): Promise<RunnerResult> {
    const runner = await this.commandRunners.get(session.id, () => this.startCommandRunner(session));
    try {
      const { request, ...callbacks } = runnerExchange;
      return await runner.exchange(request, callbacks);
    } finally {
      if (runner.singleUse) this.replaceCommandRunner(session);
    }
  }

  /** A single-use command runner has answered: it goes, and the next one starts now, ready before the next command. */
  private replaceCommandRunner(session: Session): void {
    this.commandRunners.forget(session.id);
    if (this.closed || this.removing.has(session.id)) return;
    const next = this.startCommandRunner(session);
    next.catch(() => {});
    this.commandRunners.adopt(session.id, next);
  }

  private async startCommandRunner(session: Session): Promise<PersistentRunner> {
    const handle = await this.driver.startCommandRunner(session, this.sessionRunnerOptions(session.id));
    return new PersistentRunner(handle.channel, () => handle.kill(), {
      maxSnapshotBytes: this.limits.workspaceBytes,
      requestOverrides: handle.requestOverrides,
      singleUse: handle.singleUse,
      // A command may end its own runner (same uid): that command has no answer; the next starts a new runner.
      whenLost: async (outcome, request, { letGo }) => {
        // Stopped past the backstop, or let go by this engine (the session is being removed): nothing to find out.
        if (outcome.stopped || letGo) return answerlessResult(outcome, request, "its runner ended");
        const report = await this.exitReport(handle);
        this.warn(`the command runner of session ${session.id} ended during a command${report ? `: ${report}` : ""}`);
        return answerlessResult(outcome, request, report ? `its runner ended: ${report}` : "its runner ended");
      },
    });
  }

  /** How a session's runner ended, as its driver tells it (empty when it cannot), for the error and the log. */
  private async exitReport(handle: PersistentRunnerHandle): Promise<string> {
    if (!handle.exitReport) return "";
    const report = handle.exitReport().catch((error: Error) => `how it ended could not be read (${error.message})`);
    // A platform that does not answer must not hold the failed command's answer.
    return withinMs(report, EXIT_REPORT_WAIT_MS, `how it ended was not told within ${EXIT_REPORT_WAIT_MS / 1000} s`);
  }

  /** The exchange, and the answer for a runner that gave none. */
  private async exchangeWith(runner: RunnerHandle, { request, signal, ...callbacks }: RunnerExchange): Promise<RunnerResult> {
    const planned = runner.requestOverrides ? { ...request, ...runner.requestOverrides } : request;
    const outcome = await exchange(runner.channel, {
      request: planned,
      ...callbacks,
      signal,
      maxSnapshotBytes: this.limits.workspaceBytes,
      stop: () => runner.stop(),
    });
    if (outcome.stopped === "abort") throw signal?.reason ?? new Error("aborted");
    if (outcome.result) return outcome.result;
    // Past the backstop the sandbox is being stopped: how it ended says nothing.
    const ending = outcome.stopped || !runner.exit ? { exit: "no answer" } : await runner.exit().catch(() => ({ exit: "unknown" }));
    return answerlessResult(outcome, planned, ending.exit, "outOfMemory" in ending && ending.outOfMemory === true);
  }

  private async runInLiveSession(options: SessionCommandOptions): Promise<CommandResult> {
    const session = await this.liveSession(options.sessionId);
    const started = this.clock.now();
    const egress = this.sessionEgress.get(session.id);
    // What the code tried, in the answer of a session with a way out (and only there: other answers stay onyx's).
    const withAttempts = (result: CommandResult): CommandResult =>
      egress ? { ...result, network: egress.attachment.drainAttempts() } : result;
    if (options.language === "python") {
      const kernel = await this.kernels.get(session.id, () => this.startKernel(session));
      const result = await kernel.exchange(planPythonCell(options, this.plan), {
        ...outputCallbacks(options),
        signal: options.signal,
      });
      // A kernel that ended with its sandbox (the session deleted or reaped meanwhile) is no restart: runInSession says so.
      if (result.restarted && !(await this.stillUsable(session.id))) {
        throw new BackendUnavailableError({ message: "the Python session's interpreter ended with its sandbox" });
      }
      return withAttempts(commandResult(result, this.clock.now() - started));
    }
    const request = planSessionCommand(options, this.plan);
    if (egress) request.env = { ...request.env, ...egress.attachment.env };
    const result = await this.exchangeOnCommandRunner(session, { request, ...outputCallbacks(options), signal: options.signal });
    return withAttempts(commandResult(result, this.clock.now() - started));
  }

  private async startKernel(session: Session): Promise<PythonKernel> {
    const handle = await this.driver.startKernel(session, this.sessionRunnerOptions(session.id));
    const kernel = new PythonKernel(handle.channel, () => handle.kill(), {
      maxSnapshotBytes: this.limits.workspaceBytes,
      requestOverrides: handle.requestOverrides,
    });
    return kernel;
  }

  /** A session of ours by id: anything else is "not found". */
  private async findSession(sessionId: string): Promise<Session> {
    if (!isSessionId(sessionId)) throw notFound(sessionId);
    const session = await this.driver.findSession(sessionId);
    if (!session) throw notFound(sessionId);
    return session;
  }

  /** A session that can run commands; an expired or ended one is removed on the spot. */
  private async liveSession(sessionId: string): Promise<Session> {
    const session = await this.findSession(sessionId).catch(async (error: unknown) => {
      // A paused session's record that fails its signature is refused here (SnapshotRefusedError), not "not found".
      if (SessionNotFoundError.isInstance(error) && (await this.findPaused(sessionId))) throw pausedError(sessionId);
      throw error;
    });
    if (session.expiresAt <= this.unixNow() || session.ended) {
      // on_expire "pause": paused now rather than waiting for the reaper (a command then resumes it).
      if (await this.pauseExpired(session)) throw pausedError(sessionId);
      await this.removeSession(session);
      throw new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} has expired` });
    }
    return session;
  }

  /** As liveSession, but undefined for a session that is paused (also one its expiry paused just now). */
  private async liveSessionUnlessPaused(sessionId: string): Promise<Session | undefined> {
    return this.liveSession(sessionId).catch((error: unknown) => {
      if (SessionPausedError.isInstance(error)) return undefined;
      throw error;
    });
  }

  /** Stops the session's work, then removes it; false when it was already gone. */
  private async removeSession(session: Session): Promise<boolean> {
    this.removing.add(session.id);
    try {
      await this.stopSessionWork(session.id);
      return await this.driver.removeSession(session);
    } finally {
      this.removing.delete(session.id);
    }
  }

  /** Lets go of the session's kernel and command runner, ending what they run, and its way out (its sandbox is about to go). */
  private async stopSessionWork(sessionId: string): Promise<void> {
    this.kernels.forget(sessionId);
    this.commandRunners.forget(sessionId);
    await this.forgetSessionEgress(sessionId);
  }

  /**
   * Whether a session can still take commands after one failed: not being
   * removed here, not expired, and its sandbox still there a moment later.
   */
  private async stillUsable(sessionId: string): Promise<boolean> {
    for (let check = 0; check < LIVENESS_CHECKS; check++) {
      if (this.removing.has(sessionId)) return false;
      const session = await this.driver.findSession(sessionId).catch(() => undefined);
      if (!session || session.ended || session.expiresAt <= this.unixNow()) return false;
      if (check < LIVENESS_CHECKS - 1) await this.clock.wait(LIVENESS_PAUSE_MS);
    }
    return true;
  }

  private async discard(sandbox: Sandbox): Promise<void> {
    sandbox.channel.hangUp();
    await sandbox.remove();
  }

  private background(removal: Promise<void>): void {
    this.removals.add(removal);
    void removal.finally(() => this.removals.delete(removal));
  }

  /** Runs an operation, refusing new work after close() and translating platform errors. */
  private track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new BackendUnavailableError({ message: `the ${this.name} backend is shutting down` }));
    const promise = this.translate(operation);
    this.pending.add(promise);
    const forget = () => this.pending.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private async translate<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw this.driver.translateError ? this.driver.translateError(error) : error;
    }
  }
}

/** The driver's options for a sandbox with a way out (a bound directory on local and docker; also a TCP address, token and CA on kubernetes). */
function sandboxEgress(attachment: EgressAttachment): { egress?: SandboxEgress } {
  if (attachment.hostDirectory === undefined) return {};
  const tcp = attachment.tcp ? { tcp: attachment.tcp, caCertificate: attachment.caCertificate } : {};
  return { egress: { hostDirectory: attachment.hostDirectory, ...tcp } };
}

/** A paused session as answers show it. */
function pausedInfo(paused: PausedSession): PausedSessionInfo {
  return {
    ...sessionInfo(paused),
    state: "paused",
    memory: paused.snapshot.memory,
    snapshot: paused.snapshot,
  };
}

function pausedError(sessionId: string): SessionPausedError {
  return new SessionPausedError({
    message: `Session ${JSON.stringify(sessionId)} is paused: resume it first (POST /v1/sessions/${sessionId}/resume), or send it a command`,
  });
}

function throwNotFound(sessionId: string): never {
  throw notFound(sessionId);
}

function notFound(sessionId: string): SessionNotFoundError {
  return new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} not found` });
}
