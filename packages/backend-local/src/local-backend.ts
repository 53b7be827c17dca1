import { type ChildProcess, execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, chown, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  type BackendHealth,
  BackendUnavailableError,
  type CommandResult,
  type CreateSessionOptions,
  commandResult,
  type ExecuteOptions,
  type ExecutionResult,
  executionResult,
  isSessionId,
  KeyedQueue,
  kernelArgv,
  newExecName,
  newSessionId,
  PREPARE_ROOTFS_SCRIPT,
  kernelOverTransport,
  type PythonKernel,
  planExecution,
  planPythonCell,
  planSessionCommand,
  type RunnerLimits,
  type RunnerPlanSettings,
  type RunnerRequest,
  SANDBOX_ENV,
  type SessionCommandOptions,
  type SessionInfo,
  SessionNotFoundError,
  sessionInfo,
  TreeRemover,
  unixNow,
  WarmPool,
  WORKSPACE_DIR,
  type WorkspaceFileContent,
} from "@code-interpreter/core";
import type { LocalBackendSettings } from "./local-backend-settings.js";
import {
  type ConverseOptions,
  converse,
  discard,
  type Isolation,
  type SandboxProcess,
  type SandboxSpawnOptions,
  spawnSandbox,
} from "./sandbox-process.js";

const MB = 1024 * 1024;
const execFileAsync = promisify(execFile);

interface SessionRecord {
  id: string;
  expires_at: number;
  created_at: number;
  tenant?: string;
}

const toSessionInfo = (record: SessionRecord) => sessionInfo({ id: record.id, expiresAt: record.expires_at, tenant: record.tenant });

/**
 * The embedded backend: each execution runs in a fresh bubblewrap sandbox on
 * this host; a session is a workspace directory on disk that each command
 * mounts into a fresh sandbox, so sessions outlive a server restart.
 */
export class LocalBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name = "local";
  readonly capabilities = { sessions: true, statefulPython: true };
  private readonly running = new Map<ChildProcess, string>();
  /** Python kernels of sessions, by session id. */
  private readonly kernels = new Map<string, PythonKernel>();
  private readonly sessionsDir: string;
  /** Where a deleted session's directory waits for its removal (same file system: the move is one rename). */
  private readonly trashDir: string;
  /** Removes workspaces off the event loop, at any depth; retries what failed, with backoff. */
  private readonly remover: TreeRemover;
  private readonly runAs: number | undefined;
  /** The sandboxes' root filesystem; undefined: the host's /usr (LOCAL_ROOTFS=host, or no bubblewrap). */
  private readonly rootfs: string | undefined;
  /** Warm one-shot sandboxes (bubblewrap only: without it a workspace is a host directory made per run). */
  private readonly pool: WarmPool<SandboxProcess> | undefined;
  private closed = false;
  private readonly sessionQueue = new KeyedQueue();
  /** Sessions being removed right now: their commands' sandboxes are killed on purpose. */
  private readonly removing = new Set<string>();

  constructor(
    readonly settings: LocalBackendSettings,
    /** How sandboxes are made; see createLocalBackend, which probes for bubblewrap. */
    readonly isolation: Isolation,
  ) {
    this.sessionsDir = join(settings.stateDir, "sessions");
    this.rootfs = isolation === "bwrap" && settings.rootfs !== "host" ? settings.rootfs : undefined;
    this.trashDir = join(settings.stateDir, "trash");
    this.remover = new TreeRemover({ warn: settings.warn });
    // As root, the sandbox itself runs as the unprivileged uid, not just inside a user namespace.
    this.runAs = process.getuid?.() === 0 ? settings.sandboxUid : undefined;
    if (settings.pool && isolation === "bwrap") {
      this.pool = new WarmPool({
        ...settings.pool,
        // Preloading costs each warm sandbox its imports: when refills cannot keep up, skip it.
        create: async () => this.spawn({ name: newExecName(), preload: this.pool?.underPressure ? [] : settings.preload }),
        destroy: discard,
        onError: (error) => settings.warn(`could not start a warm sandbox: ${(error as Error).message}`),
      });
    }
  }

  async execute(options: ExecuteOptions): Promise<ExecutionResult> {
    const request = planExecution(options, this.planSettings());
    const started = Date.now();
    const name = newExecName();
    if (this.isolation === "bwrap") {
      this.assertOpen();
      options.signal?.throwIfAborted();
      const sandbox = this.pool?.take() ?? this.spawn({ name });
      try {
        const result = await this.converse(sandbox, { request, onOutput: options.onOutput, signal: options.signal });
        return executionResult(options, result, Date.now() - started);
      } finally {
        this.pool?.release();
      }
    }
    // Without bubblewrap the workspace is a host directory and the runner must not kill everything it can.
    const workspaceDir = join(this.settings.stateDir, "exec", name);
    await this.makeWorkspace(workspaceDir);
    try {
      const result = await this.run({
        name,
        request: { ...request, cwd: workspaceDir, killAll: false },
        workspaceDir,
        onOutput: options.onOutput,
        signal: options.signal,
      });
      return executionResult(options, result, Date.now() - started);
    } finally {
      await this.remover.remove(workspaceDir);
    }
  }

  async createSession(options: CreateSessionOptions): Promise<SessionInfo> {
    const id = newSessionId();
    const dir = join(this.sessionsDir, id);
    await this.makeWorkspace(join(dir, "workspace"));
    const now = unixNow();
    const record: SessionRecord = {
      id,
      created_at: now,
      expires_at: now + options.ttlSeconds,
      ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
    };
    await this.writeRecord(record);
    try {
      if (options.files.length > 0) {
        await this.runInWorkspace(id, { files: options.files }, options.signal);
      }
    } catch (error) {
      await this.remover.remove(dir);
      throw error;
    }
    return toSessionInfo(record);
  }

  async getSession(sessionId: string): Promise<SessionInfo> {
    return toSessionInfo(await this.readRecord(sessionId));
  }

  async listSessions(): Promise<SessionInfo[]> {
    const records = await this.readAllRecords();
    return records.map(toSessionInfo);
  }

  async extendSession(sessionId: string, ttlSeconds: number): Promise<SessionInfo> {
    const record = await this.readRecord(sessionId);
    const updated = { ...record, expires_at: unixNow() + ttlSeconds };
    await this.writeRecord(updated);
    return toSessionInfo(updated);
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.readRecord(sessionId);
    await this.removeSession(sessionId);
  }

  /** Commands of one session run one at a time, in arrival order, so they never interleave in its workspace. */
  runInSession(options: SessionCommandOptions): Promise<CommandResult> {
    return this.sessionQueue.run(options.sessionId, async () => {
      await this.liveRecord(options.sessionId);
      try {
        return await this.runInLiveSession(options);
      } catch (error) {
        // Deleted or reaped while it ran, which killed its sandbox: say so rather than "sandbox failed".
        const gone =
          this.removing.has(options.sessionId) ||
          (await this.readRecord(options.sessionId).then(
            () => false,
            () => true,
          ));
        if (SessionNotFoundError.isInstance(error) || !gone) throw error;
        throw new SessionNotFoundError({
          message: `Session ${JSON.stringify(options.sessionId)} was deleted while the command ran`,
          cause: error,
        });
      }
    });
  }

  private async runInLiveSession(options: SessionCommandOptions): Promise<CommandResult> {
    const started = Date.now();
    if (options.language === "python") {
      const request = planPythonCell(options, this.planSettings());
      if (this.isolation === "none") request.cwd = this.workspaceDir(options.sessionId);
      const result = await this.kernelFor(options.sessionId).run(request, { onOutput: options.onOutput, signal: options.signal });
      return commandResult(result, Date.now() - started);
    }
    const request = planSessionCommand(options, this.planSettings());
    const result = await this.runInWorkspace(options.sessionId, request, options.signal, options.onOutput);
    return commandResult(result, Date.now() - started);
  }

  async readSessionFiles(sessionId: string): Promise<WorkspaceFileContent[]> {
    await this.liveRecord(sessionId);
    const result = await this.runInWorkspace(sessionId, { snapshot: true, maxSnapshotBytes: this.settings.workspaceSizeMb * MB });
    return result.snapshot;
  }

  /** The root filesystem and its Python, bubblewrap and the state directory it needs are still there (for `GET /health`). */
  async health(): Promise<BackendHealth> {
    const problems: string[] = [];
    const python = join(this.rootfs ?? "/", this.settings.python);
    await access(python, constants.X_OK).catch(() =>
      problems.push(
        this.rootfs
          ? `the sandbox environment at ${this.rootfs} has no ${this.settings.python} (LOCAL_ROOTFS); prepare it: sudo bash ${PREPARE_ROOTFS_SCRIPT}`
          : `${python} is not executable (LOCAL_PYTHON)`,
      ),
    );
    await access(this.sessionsDir, constants.W_OK).catch(() => problems.push(`${this.sessionsDir} is not writable (LOCAL_STATE_DIR)`));
    if (this.isolation === "bwrap") {
      await execFileAsync(this.settings.bwrapPath, ["--version"]).catch(() =>
        problems.push(`${this.settings.bwrapPath} does not run; install bubblewrap (apt-get install bubblewrap)`),
      );
    }
    return problems.length === 0 ? { ok: true } : { ok: false, detail: problems.join("; ") };
  }

  async reapExpiredSessions(): Promise<string[]> {
    await this.emptyTrash();
    const now = unixNow();
    const expired = (await this.readAllRecords()).filter((record) => record.expires_at <= now);
    const reaped: string[] = [];
    for (const record of expired) {
      try {
        await this.removeSession(record.id);
        reaped.push(record.id);
      } catch (error) {
        this.settings.warn(`could not reap session ${record.id}: ${(error as Error).message}`);
      }
    }
    return reaped;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
    await Promise.all([...this.kernels.values()].map((kernel) => kernel.stop()));
    for (const child of this.running.keys()) child.kill("SIGKILL");
    await waitFor(() => this.running.size === 0, 5000);
  }

  private planSettings(): RunnerPlanSettings {
    return {
      python: this.settings.python,
      maxOutputBytes: this.settings.maxOutputBytes,
      limits: this.limits(),
      env: passthroughEnv(),
      // The runner must stop where the server's reading stops, or a big workspace fails the whole execution.
      maxSnapshotBytes: this.settings.workspaceSizeMb * MB,
    };
  }

  private limits(): RunnerLimits {
    return {
      cpuSeconds: this.settings.cpuTimeLimitSec,
      addressSpaceBytes: this.settings.memoryLimitMb * MB,
      processes: this.settings.maxProcesses,
      fileSizeBytes: Math.min(this.settings.maxFileSizeMb, this.settings.workspaceSizeMb) * MB,
      openFiles: 1024,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new BackendUnavailableError({ message: "the local backend is shutting down" });
  }

  /** Starts a sandbox; it starts with the code's environment, which preloaded modules read. */
  private spawn(options: Pick<SandboxSpawnOptions, "name" | "workspaceDir" | "preload" | "argv">): SandboxProcess {
    return spawnSandbox({
      ...options,
      isolation: this.isolation,
      bwrapPath: this.settings.bwrapPath,
      rootfs: this.rootfs,
      python: this.settings.python,
      runAs: this.runAs,
      uid: this.settings.sandboxUid,
      tmpfsBytes: this.settings.workspaceSizeMb * MB,
      env: { ...SANDBOX_ENV, ...passthroughEnv() },
    });
  }

  private converse(sandbox: SandboxProcess, options: Omit<ConverseOptions, "registry" | "maxSnapshotBytes">) {
    return converse(sandbox, { ...options, maxSnapshotBytes: this.settings.workspaceSizeMb * MB, registry: this.running });
  }

  /** A fresh sandbox for one request. */
  private run(options: Pick<SandboxSpawnOptions, "name" | "workspaceDir"> & Omit<ConverseOptions, "registry" | "maxSnapshotBytes">) {
    this.assertOpen();
    options.signal?.throwIfAborted();
    return this.converse(this.spawn(options), options);
  }

  private workspaceDir(sessionId: string): string {
    return join(this.sessionsDir, sessionId, "workspace");
  }

  /**
   * The session's Python kernel: a sandbox on the session's workspace that
   * keeps running between calls (it dies with this server; a new one starts
   * on the next call, with the files but not the variables).
   */
  private kernelFor(sessionId: string): PythonKernel {
    const existing = this.kernels.get(sessionId);
    if (existing?.alive) return existing;
    this.assertOpen();
    const sandbox = this.spawn({
      name: sessionId,
      workspaceDir: this.workspaceDir(sessionId),
      argv: kernelArgv(this.settings.python, this.limits()),
    });
    this.running.set(sandbox.child, sessionId);
    void sandbox.exited.then(() => this.running.delete(sandbox.child));
    const kernel = kernelOverTransport(
      {
        write: (data) => sandbox.child.stdin?.write(data),
        onData: (listener) => sandbox.child.stdout?.on("data", listener),
        onClose: (listener) => void sandbox.exited.then(listener),
        kill: () => discard(sandbox),
      },
      { maxSnapshotBytes: this.settings.workspaceSizeMb * MB },
    );
    this.kernels.set(sessionId, kernel);
    return kernel;
  }

  /** Runs the runner with the session's workspace directory as /workspace. */
  private runInWorkspace(
    sessionId: string,
    request: Partial<RunnerRequest>,
    signal?: AbortSignal,
    onOutput?: SessionCommandOptions["onOutput"],
  ) {
    const workspaceDir = join(this.sessionsDir, sessionId, "workspace");
    const cwd = this.isolation === "bwrap" ? WORKSPACE_DIR : workspaceDir;
    return this.run({
      name: sessionId,
      request: { maxOutputBytes: this.settings.maxOutputBytes, ...request, cwd, killAll: false },
      workspaceDir,
      onOutput,
      signal,
    });
  }

  private async makeWorkspace(dir: string): Promise<void> {
    // Parents stay traversable for the sandbox uid; the workspace is its own.
    await mkdir(dir, { recursive: true, mode: 0o711 });
    if (this.runAs !== undefined) await chown(dir, this.runAs, this.runAs);
  }

  private recordPath(sessionId: string): string {
    return join(this.sessionsDir, sessionId, "session.json");
  }

  private async writeRecord(record: SessionRecord): Promise<void> {
    const path = this.recordPath(record.id);
    const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, JSON.stringify(record), { mode: 0o600 });
    await rename(temporary, path);
  }

  private async readRecord(sessionId: string): Promise<SessionRecord> {
    const notFound = () => new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} not found` });
    if (!isSessionId(sessionId)) throw notFound();
    try {
      const record = JSON.parse(await readFile(this.recordPath(sessionId), "utf8")) as SessionRecord;
      if (record.id !== sessionId || typeof record.expires_at !== "number") throw notFound();
      return record;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" || error instanceof SyntaxError) throw notFound();
      throw error;
    }
  }

  /** A session that exists and has not expired; an expired one is removed on the spot. */
  private async liveRecord(sessionId: string): Promise<SessionRecord> {
    const record = await this.readRecord(sessionId);
    if (record.expires_at <= unixNow()) {
      await this.removeSession(sessionId);
      throw new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} has expired` });
    }
    return record;
  }

  private async readAllRecords(): Promise<SessionRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.sessionsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const records: SessionRecord[] = [];
    for (const name of names.filter(isSessionId)) {
      try {
        records.push(await this.readRecord(name));
      } catch (error) {
        if (!SessionNotFoundError.isInstance(error)) throw error;
        // A directory without a readable record is what a crash mid-create leaves: it is expired.
        records.push({ id: name, created_at: 0, expires_at: 0 });
      }
    }
    return records;
  }

  private async removeSession(sessionId: string): Promise<void> {
    this.removing.add(sessionId);
    try {
      await this.kernels.get(sessionId)?.stop();
      this.kernels.delete(sessionId);
      for (const [child, name] of this.running) if (name === sessionId) child.kill("SIGKILL");
      await waitFor(() => ![...this.running.values()].includes(sessionId), 5000);
      // One rename takes the session out of every listing, however big or deep its tree; the
      // removal that follows may fail (retried with backoff) without the session coming back.
      const trashed = join(this.trashDir, `${sessionId}.${Date.now()}`);
      await mkdir(this.trashDir, { recursive: true, mode: 0o700 });
      try {
        await rename(join(this.sessionsDir, sessionId), trashed);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
        throw error;
      }
      await this.remover.remove(trashed);
    } finally {
      this.removing.delete(sessionId);
    }
  }

  /** Removes what earlier deletes (also a crashed server's) left in the trash, leaving failed ones to their backoff. */
  private async emptyTrash(): Promise<void> {
    await this.remover.retryDue();
    let names: string[];
    try {
      names = await readdir(this.trashDir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(this.trashDir, name);
      if (!this.remover.isWaiting(path)) await this.remover.remove(path);
    }
  }
}

/**
 * OpenBLAS settings this host needs to run numpy correctly (see OPENBLAS_CORETYPE), and two malloc arenas:
 * RLIMIT_AS counts address space, and glibc reserves 64 MB more for each thread's arena.
 */
function passthroughEnv(): Record<string, string> {
  const env: Record<string, string> = { OPENBLAS_NUM_THREADS: "1", MALLOC_ARENA_MAX: "2" };
  for (const key of ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  return env;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}
