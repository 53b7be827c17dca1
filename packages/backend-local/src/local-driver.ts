import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, chown, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { BackendHealth } from "@code-interpreter/core";
import {
  type OneShotSandbox,
  type PersistentRunnerHandle,
  type RunnerHandle,
  runnerPlan,
  SANDBOX_ENV,
  type SandboxDriver,
  type SandboxLimits,
  type StartSandboxOptions,
  sandboxLimits,
} from "@code-interpreter/core/engine";
import { kernelArgv, type RunnerRequest, serveArgv } from "@code-interpreter/core/runner";
import { isSessionId, newExecName, PREPARE_ROOTFS_SCRIPT, unixNow } from "@code-interpreter/core/sandbox";
import type { LocalBackendSettings } from "./local-backend-settings.js";
import { type Isolation, type SandboxProcess, type SandboxSpawnOptions, spawnSandbox } from "./sandbox-process.js";
import { type LocalSession, SessionRecords } from "./session-records.js";
import { Trash } from "./trash.js";

const execFileAsync = promisify(execFile);

/**
 * Sandboxes on this host: a one-shot sandbox is a fresh bubblewrap process
 * with the runner in it (without bubblewrap, the runner itself on a host
 * directory); a session is a directory on disk (its record and workspace)
 * that each command mounts into a fresh sandbox (a single-use command
 * runner, started before the command comes), and its kernel into a
 * long-lived one. Sessions outlive a server restart; sandboxes die with it.
 */
export class LocalDriver implements SandboxDriver<LocalSession> {
  readonly name = "local";
  readonly capabilities = { sessions: true, statefulPython: true };
  readonly limits: SandboxLimits;
  readonly plan: SandboxDriver["plan"];
  /** Warm one-shot sandboxes: bubblewrap only (without it a one-shot workspace is a host directory made per run). */
  readonly pool: LocalBackendSettings["pool"];
  /** Warm sessions: a directory marked warm, its command runner and kernel started (see SessionRecords.makeWarm). */
  readonly sessionPool: LocalBackendSettings["sessionPool"];
  /** Local sandboxes have no deadline of their own: a warm one serves any timeout. */
  readonly maxExecTimeoutMs = Number.POSITIVE_INFINITY;
  private readonly records: SessionRecords;
  private readonly trash: Trash;
  /** Every sandbox process of this driver, until it has exited: a session's are stopped before it goes, all on close. */
  private readonly sandboxes = new Set<SandboxProcess>();
  /** Warm one-shot sandboxes not taken yet, by name (see waitingWarm). */
  private readonly warm = new Set<string>();
  private readonly runAs: number | undefined;
  /** The sandboxes' root filesystem; undefined: the host's /usr (LOCAL_ROOTFS=host, or no bubblewrap). */
  private readonly rootfs: string | undefined;

  constructor(
    readonly settings: LocalBackendSettings,
    readonly isolation: Isolation,
  ) {
    this.limits = sandboxLimits(settings);
    this.plan = runnerPlan(this.limits, { cgroup: false, python: settings.python, env: passthroughEnv() });
    this.pool = isolation === "bwrap" ? settings.pool : false;
    this.sessionPool = settings.sessionPool;
    this.records = new SessionRecords(join(settings.stateDir, "sessions"));
    this.trash = new Trash(join(settings.stateDir, "trash"), settings.warn);
    // As root, the sandbox itself runs as the unprivileged uid, not just inside a user namespace.
    this.runAs = process.getuid?.() === 0 ? settings.sandboxUid : undefined;
    this.rootfs = isolation === "bwrap" && settings.rootfs !== "host" ? settings.rootfs : undefined;
  }

  get preload(): readonly string[] {
    return this.settings.preload;
  }

  warn(message: string): void {
    this.settings.warn(message);
  }

  async start(options: StartSandboxOptions): Promise<OneShotSandbox> {
    options.signal?.throwIfAborted();
    const name = newExecName();
    // Without bubblewrap the workspace is a host directory of its own.
    const workspaceDir = this.isolation === "none" ? join(this.settings.stateDir, "exec", name) : undefined;
    if (workspaceDir) await this.makeWorkspace(workspaceDir);
    const sandbox = this.spawn({ name, workspaceDir, preload: options.preload, env: options.env });
    if (options.warm) {
      this.warm.add(name);
      void sandbox.exited.then(() => this.warm.delete(name));
    }
    return {
      ...this.runner(sandbox, workspaceDir),
      name,
      warm: options.warm,
      remove: async () => {
        await sandbox.kill();
        if (workspaceDir) await this.trash.remove(workspaceDir);
      },
    };
  }

  /** A warm one-shot sandbox was taken: local sandboxes keep no record of it, but it no longer waits. */
  async claim(sandbox: OneShotSandbox): Promise<void> {
    this.warm.delete(sandbox.name);
  }

  /**
   * Names of the warm one-shot sandboxes waiting in the pool, not taken:
   * for tests that list leftovers (under pressure a warm sandbox preloads
   * nothing, so its command line does not tell it apart).
   */
  waitingWarm(): string[] {
    return [...this.warm];
  }

  /** A session directory with its record; a warm one has the warm marker instead (no session until claimed). */
  async createSession(session: { id: string; expiresAt: number; tenant?: string; warm?: boolean }): Promise<LocalSession> {
    const { id, expiresAt, tenant, warm = false } = session;
    const created: LocalSession = { id, expiresAt, tenant, createdAt: unixNow(), ended: false };
    try {
      if (warm) await this.records.makeWarm({ id, expiresAt });
      await this.makeWorkspace(this.records.workspaceDir(id));
      if (!warm) await this.records.write(created);
    } catch (error) {
      await this.trash.remove(this.records.dir(id));
      throw error;
    }
    return created;
  }

  /** The warm session's record is written (outside every sandbox's reach): from now on it is a session, for any server on this state directory. */
  async claimSession(session: LocalSession, claim: { expiresAt: number; tenant?: string }): Promise<LocalSession> {
    const claimed: LocalSession = { id: session.id, expiresAt: claim.expiresAt, tenant: claim.tenant, createdAt: unixNow(), ended: false };
    await this.records.claim(claimed);
    return claimed;
  }

  findSession(id: string): Promise<LocalSession | undefined> {
    return this.records.read(id);
  }

  listSessions(): Promise<LocalSession[]> {
    return this.records.list();
  }

  async extendSession(session: LocalSession, expiresAt: number): Promise<number> {
    await this.records.write({ ...session, expiresAt });
    return expiresAt;
  }

  /**
   * Moves the session's directory into the trash, kills its sandboxes (its
   * kernel and command runner, also one being started), then removes the
   * directory. Moved first: a sandbox started from then on finds no
   * workspace to mount and ends at once, so none outlives the session.
   */
  async removeSession(session: LocalSession): Promise<boolean> {
    const trashed = await this.trash.move(this.records.dir(session.id), session.id);
    await Promise.all([...this.sandboxes].filter((sandbox) => sandbox.name === session.id).map((sandbox) => sandbox.kill()));
    if (trashed === undefined) return false;
    await this.trash.remove(trashed);
    return true;
  }

  async startKernel(session: LocalSession): Promise<PersistentRunnerHandle> {
    return this.sessionSandbox(session, kernelArgv(this.settings.python, this.plan.limits), { kernel: true });
  }

  /**
   * The session's command runner (`serveArgv`) as the main process of a
   * fresh sandbox on its workspace: single-use, so the sandbox, and whatever
   * the command left running in it, ends when the engine hangs up after the
   * answer; the engine starts the next one right away, ready for the next command.
   */
  async startCommandRunner(session: LocalSession): Promise<PersistentRunnerHandle> {
    return { ...this.sessionSandbox(session, serveArgv(this.settings.python)), singleUse: true };
  }

  /**
   * Removes expired sessions, and warm session directories past their age
   * limit (a crashed server's too); ends this server's sandboxes of sessions
   * another server removed (a command runner started ahead, a kernel).
   */
  async reap(now: number, beforeRemove: (sessionId: string) => Promise<void>): Promise<string[]> {
    await this.trash.empty();
    await this.endOrphanedSandboxes();
    const reaped: string[] = [];
    const { sessions, unclaimed } = await this.records.inventory();
    for (const warm of unclaimed) {
      if (warm.expiresAt > now) continue;
      await this.removeSession({ ...warm, createdAt: 0, ended: false }).catch((error: Error) =>
        this.warn(`could not reap warm session ${warm.id}: ${error.message}`),
      );
    }
    for (const session of sessions) {
      if (session.expiresAt > now) continue;
      try {
        await beforeRemove(session.id);
        await this.removeSession(session);
        reaped.push(session.id);
      } catch (error) {
        this.warn(`could not reap session ${session.id}: ${(error as Error).message}`);
      }
    }
    return reaped;
  }

  /** The root filesystem and its Python, bubblewrap and the state directory it needs are still there (for `GET /health`). */
  async health(): Promise<BackendHealth> {
    const { python, bwrapPath } = this.settings;
    const problems: string[] = [];
    const path = join(this.rootfs ?? "/", python);
    await access(path, constants.X_OK).catch(() =>
      problems.push(
        this.rootfs
          ? `the sandbox environment at ${this.rootfs} has no ${python} (LOCAL_ROOTFS); prepare it: sudo bash ${PREPARE_ROOTFS_SCRIPT}`
          : `${path} is not executable (LOCAL_PYTHON)`,
      ),
    );
    const { sessionsDir } = this.records;
    await access(sessionsDir, constants.W_OK).catch(() => problems.push(`${sessionsDir} is not writable (LOCAL_STATE_DIR)`));
    if (this.isolation === "bwrap") {
      await execFileAsync(bwrapPath, ["--version"]).catch(() =>
        problems.push(`${bwrapPath} does not run; install bubblewrap (apt-get install bubblewrap)`),
      );
    }
    return problems.length === 0 ? { ok: true } : { ok: false, detail: problems.join("; ") };
  }

  /** No sandbox of this server outlives it (kernels included: their sessions' files stay for the next one). */
  async close(): Promise<void> {
    await Promise.all([...this.sandboxes].map((sandbox) => sandbox.kill()));
  }

  /** Kills session sandboxes whose directory is gone: each was started once it existed, so its session was removed. */
  private async endOrphanedSandboxes(): Promise<void> {
    const sessionSandboxes = [...this.sandboxes].filter((sandbox) => isSessionId(sandbox.name));
    await Promise.all(
      sessionSandboxes.map(async (sandbox) => {
        const gone = await access(this.records.dir(sandbox.name)).then(
          () => false,
          () => true,
        );
        if (gone) await sandbox.kill();
      }),
    );
  }

  /** A sandbox of the session on its workspace, running `argv`, with its channel kept open (a kernel, a command runner). */
  private sessionSandbox(session: LocalSession, argv: string[], options: { kernel?: boolean } = {}): PersistentRunnerHandle {
    const workspaceDir = this.records.workspaceDir(session.id);
    const sandbox = this.spawn({ name: session.id, workspaceDir, argv, kernel: options.kernel, env: this.sandboxEnv() });
    const { channel, requestOverrides } = this.runner(sandbox, workspaceDir);
    return { channel, requestOverrides, kill: async () => void (await sandbox.kill()) };
  }

  /** The runner of a sandbox: without bubblewrap, the host directory is its cwd, and it must not kill everything it can. */
  private runner(sandbox: SandboxProcess, workspaceDir: string | undefined): RunnerHandle {
    const requestOverrides: Partial<RunnerRequest> | undefined =
      this.isolation === "none" && workspaceDir ? { cwd: workspaceDir, killAll: false } : undefined;
    return {
      channel: sandbox.channel,
      stop: async () => void (await sandbox.kill()),
      exit: async () => ({ exit: await sandbox.exited }),
      requestOverrides,
    };
  }

  /** Starts a sandbox, and keeps it in mind until it has exited. */
  private spawn(options: Pick<SandboxSpawnOptions, "name" | "workspaceDir" | "preload" | "argv" | "kernel" | "env">): SandboxProcess {
    const sandbox = spawnSandbox({
      ...options,
      isolation: this.isolation,
      bwrapPath: this.settings.bwrapPath,
      rootfs: this.rootfs,
      python: this.settings.python,
      runAs: this.runAs,
      uid: this.settings.sandboxUid,
      tmpfsBytes: this.limits.workspaceBytes,
    });
    this.sandboxes.add(sandbox);
    void sandbox.exited.then(() => this.sandboxes.delete(sandbox));
    return sandbox;
  }

  /** The code's environment, which a sandbox starts with (a kernel's cells get no other). */
  private sandboxEnv(): Record<string, string> {
    return { ...SANDBOX_ENV, ...this.plan.env };
  }

  private async makeWorkspace(dir: string): Promise<void> {
    // Parents stay traversable for the sandbox uid; the workspace is its own.
    await mkdir(dir, { recursive: true, mode: 0o711 });
    if (this.runAs !== undefined) await chown(dir, this.runAs, this.runAs);
  }
}

/**
 * OpenBLAS settings this host needs to run numpy correctly (see OPENBLAS_CORETYPE), and two malloc arenas:
 * RLIMIT_AS counts address space, and glibc reserves 64 MB more for each thread's arena.
 */
function passthroughEnv(): Record<string, string> {
  const env: Record<string, string> = { MALLOC_ARENA_MAX: "2" };
  for (const key of ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  return env;
}
