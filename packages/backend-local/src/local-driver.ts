import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, chown, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { type BackendHealth, NotSupportedError } from "@code-interpreter/core";
import {
  type CreateSessionSandboxOptions,
  type OneShotSandbox,
  type PersistentRunnerHandle,
  type RunnerHandle,
  reapVerdict,
  type SandboxDriver,
  type SandboxEgress,
  type SessionImage,
  type StartSandboxOptions,
  type StartSessionRunnerOptions,
  withinMs,
} from "@code-interpreter/core/engine";
import { kernelArgv, type RunnerRequest, serveArgv } from "@code-interpreter/core/runner";
import {
  gvisorMemoryBytes,
  isOfRuntime,
  isSessionId,
  newExecName,
  PREPARE_ROOTFS_SCRIPT,
  RUNTIME_LABEL_KEY,
  type SandboxRuntime,
  sandboxByteLimits,
  unixNow,
} from "@code-interpreter/core/sandbox";
import { ForkServer } from "./fork-server.js";
import type { LocalBackendSettings } from "./local-backend-settings.js";
import { type RunscOptions, runscGlobalArgs, SERVER_PID_ANNOTATION } from "./runsc-bundle.js";
import {
  deleteContainer,
  type Isolation,
  isAlive,
  type SandboxProcess,
  type SandboxSpawnOptions,
  spawnSandbox,
} from "./sandbox-process.js";
import { SessionCheckpoints, type SessionSandboxRole } from "./session-checkpoints.js";
import { type LocalSession, SessionRecords } from "./session-records.js";
import { Trash } from "./trash.js";

const execFileAsync = promisify(execFile);

/**
 * Sandboxes on this host: a one-shot sandbox is a fresh bubblewrap process
 * with the runner in it (without bubblewrap, the runner itself on a host
 * directory; with `sandboxRuntime: "gvisor"`, a runsc container over the same
 * root filesystem, its bundle under `<stateDir>/runsc`); a session is a directory on disk (its record and workspace)
 * that each command mounts into a fresh sandbox (a single-use command
 * runner, started before the command comes), and its kernel into a
 * long-lived one. Sessions outlive a server restart; sandboxes die with it.
 */
export class LocalDriver implements SandboxDriver<LocalSession> {
  readonly name = "local";
  readonly capabilities: { sessions: true; statefulPython: true; runtime: SandboxRuntime; egress: boolean; memorySnapshots: boolean };
  /** Why its sandboxes cannot be given a way out (gVisor, no bubblewrap): what the engine's 422 says. */
  readonly egressRefusal: string | undefined;
  /** The runtime of every sandbox and session record this driver makes, finds, lists and reaps. */
  readonly runtime: SandboxRuntime;
  /** gVisor: how runsc runs, and where its bundles go. */
  private readonly runsc: (RunscOptions & { bundlesDir: string; memoryBytes: number }) | undefined;
  /** Size of each sandbox's tmpfs `/workspace` and `/tmp`. */
  private readonly workspaceBytes: number;
  private readonly records: SessionRecords;
  private readonly trash: Trash;
  /** Every sandbox process of this driver, until it has exited: a session's are stopped before it goes, all on close. */
  private readonly sandboxes = new Set<SandboxProcess>();
  /** Warm one-shot sandboxes not taken yet, by name (see waitingWarm). */
  private readonly warm = new Set<string>();
  private readonly runAs: number | undefined;
  /** The sandboxes' root filesystem; undefined: the host's /usr (LOCAL_ROOTFS=host, or no bubblewrap). */
  private readonly rootfs: string | undefined;
  /** Sessions given a way out (issue 22), by id: each of their sandboxes binds this egress directory. In memory: the proxy's attachment is too. */
  private readonly sessionEgress = new Map<string, string>();
  /** What each session sandbox runs (a kernel, a command runner): what a checkpoint of its session saves it as. */
  private readonly roles = new WeakMap<SandboxProcess, SessionSandboxRole>();
  /** gVisor: checkpoints of sessions' sandboxes, restored on their next use (see SessionCheckpoints). */
  private readonly checkpoints: SessionCheckpoints | undefined;
  /** bubblewrap with `forkServer`: one-shot sandboxes forked from one preloaded interpreter (see ForkServer). */
  private readonly forkServer: ForkServer | undefined;

  /**
   * gVisor only (issue 23): the session's workspace and, with `memory`, its
   * kernel's and command runner's processes (`runsc checkpoint`); the
   * session goes on from the checkpoint at its next command. Absent on the
   * other isolations: the engine takes the workspace through the command runner.
   */
  readonly snapshotSession?: (session: LocalSession) => Promise<SessionImage>;
  /** gVisor only: the workspace unpacked, the checkpoints left to be restored at the session's first command. */
  readonly restoreSession?: (session: LocalSession, image: SessionImage) => Promise<void>;

  constructor(
    readonly settings: LocalBackendSettings,
    readonly isolation: Isolation,
  ) {
    const byteLimits = sandboxByteLimits(settings);
    this.workspaceBytes = byteLimits.workspaceBytes;
    this.runtime = isolation === "gvisor" ? "gvisor" : "default";
    // A way out through the egress proxy's bound socket: bubblewrap only (see checkEgress).
    this.capabilities = {
      sessions: true,
      statefulPython: true,
      runtime: this.runtime,
      egress: isolation === "bwrap",
      // gVisor checkpoints a session's sandboxes (see SessionCheckpoints).
      memorySnapshots: isolation === "gvisor",
    };
    this.egressRefusal = localEgressRefusal(isolation);
    this.records = new SessionRecords(join(settings.stateDir, "sessions"), this.runtime);
    this.trash = new Trash(join(settings.stateDir, "trash"), settings.warn);
    // As root, the sandbox itself runs as the unprivileged uid, not just inside a user namespace.
    this.runAs = process.getuid?.() === 0 ? settings.sandboxUid : undefined;
    this.rootfs = isolation !== "none" && settings.rootfs !== "host" ? settings.rootfs : undefined;
    this.runsc =
      isolation === "gvisor"
        ? {
            ...runscOptions(settings),
            bundlesDir: join(settings.stateDir, "runsc", "bundles"),
            // The whole sandbox, its user-space kernel included: the code's own bound is each process's RLIMIT_AS.
            memoryBytes: gvisorMemoryBytes(byteLimits.memoryBytes, settings.maxProcesses),
          }
        : undefined;
    this.forkServer =
      isolation === "bwrap" && settings.forkServer
        ? new ForkServer({
            bwrapPath: settings.bwrapPath,
            rootfs: this.rootfs,
            python: settings.python,
            runAs: this.runAs,
            uid: settings.sandboxUid,
            tmpfsBytes: this.workspaceBytes,
            stateDir: settings.stateDir,
            preload: settings.preload,
            warn: settings.warn,
          })
        : undefined;
    if (this.runsc) {
      const checkpoints = new SessionCheckpoints(this.runsc, this.runAs);
      this.checkpoints = checkpoints;
      this.snapshotSession = (session) => {
        const live = [...this.sandboxes].flatMap((sandbox) => {
          const role = this.roles.get(sandbox);
          const running = sandbox.child !== undefined && sandbox.child.exitCode === null && sandbox.child.signalCode === null;
          return sandbox.name === session.id && role && running ? [{ role, sandbox }] : [];
        });
        return checkpoints.capture(this.records.dir(session.id), this.records.workspaceDir(session.id), live);
      };
      this.restoreSession = (session, image) =>
        checkpoints.restore(this.records.dir(session.id), this.records.workspaceDir(session.id), image);
    }
  }

  async start(options: StartSandboxOptions): Promise<OneShotSandbox> {
    options.signal?.throwIfAborted();
    const egressDir = this.checkEgress(options.egress);
    const name = options.name ?? newExecName();
    // Without bubblewrap the workspace is a host directory of its own.
    const workspaceDir = this.isolation === "none" ? join(this.settings.stateDir, "exec", name) : undefined;
    if (workspaceDir) await this.makeWorkspace(workspaceDir);
    const env = options.env ?? {};
    // A sandbox with a way out binds the proxy's socket: bubblewrap's own, never a fork. A warm one that preloads
    // nothing (the pool under pressure) is a bubblewrap too: three forks of the preloaded fork server cost more CPU
    // than a bare interpreter's start, which is what counts when requests outrun the pool. A request that found no
    // warm sandbox is forked: it waits for its sandbox, and a fork has the preload.
    const forked = !egressDir && (!options.warm || (options.preload?.length ?? 0) > 0) && this.forkServer?.serves(env);
    const sandbox =
      forked && this.forkServer
        ? this.track(await this.forkServer.start(name, env))
        : this.spawn({ name, workspaceDir, preload: options.preload, env: options.env, egressDir });
    if (options.warm) {
      this.warm.add(name);
      void sandbox.exited.then(() => this.warm.delete(name));
    }
    return {
      ...this.runner(sandbox, workspaceDir),
      name,
      warm: options.warm,
      remove: async () => {
        await sandbox.finish();
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
  async createSession(session: CreateSessionSandboxOptions): Promise<LocalSession> {
    const { id, expiresAt, tenant, warm = false } = session;
    const egressDir = this.checkEgress(session.egress);
    const created: LocalSession = { id, expiresAt, tenant, createdAt: unixNow(), ended: false };
    try {
      if (warm) await this.records.makeWarm({ id, expiresAt });
      await this.makeWorkspace(this.records.workspaceDir(id));
      if (!warm) await this.records.write(created);
    } catch (error) {
      await this.trash.remove(this.records.dir(id));
      throw error;
    }
    if (egressDir) this.sessionEgress.set(id, egressDir);
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
    this.sessionEgress.delete(session.id);
    await Promise.all([...this.sandboxes].filter((sandbox) => sandbox.name === session.id).map((sandbox) => sandbox.kill()));
    if (trashed === undefined) return false;
    await this.trash.remove(trashed);
    return true;
  }

  async startKernel(session: LocalSession, options: StartSessionRunnerOptions): Promise<PersistentRunnerHandle> {
    const argv = kernelArgv(this.settings.python, options.limits);
    return this.sessionSandbox(session, argv, {
      kernel: true,
      env: options.env,
      restoreFrom: await this.waitingCheckpoint(session, "kernel"),
    });
  }

  /**
   * The session's command runner (`serveArgv`) as the main process of a
   * sandbox on its workspace, serving command after command: after each, it
   * ends everything the command started (it is their subreaper, and the init
   * of the sandbox's pid namespace), so no process outlives its command. With
   * a way out it is single-use instead (the sandbox ends after one answer and
   * the engine starts the next right away): the egress forwarder is a process
   * of that sandbox too, which the end-of-command kill would take with it.
   */
  async startCommandRunner(session: LocalSession, options: StartSessionRunnerOptions): Promise<PersistentRunnerHandle> {
    const restoreFrom = await this.waitingCheckpoint(session, "commands");
    const handle = this.sessionSandbox(session, serveArgv(this.settings.python), { env: options.env, restoreFrom });
    return this.sessionEgress.has(session.id) ? { ...handle, singleUse: true } : handle;
  }

  /**
   * Removes expired sessions, and warm session directories past their age
   * limit or whose server has died (their sandboxes died with it: bubblewrap's
   * `--die-with-parent`, a runner's end of input); ends this server's
   * sandboxes of sessions another server removed (a command runner started
   * ahead, a kernel).
   */
  async reap(now: number, beforeRemove: (sessionId: string) => Promise<void>): Promise<string[]> {
    await this.trash.empty();
    await this.endOrphanedSandboxes();
    await this.removeDeadServersContainers();
    const reaped: string[] = [];
    const { sessions, unclaimed } = await this.records.inventory();
    for (const warm of unclaimed) {
      const ended = warm.serverPid !== undefined && warm.serverPid !== process.pid && !isAlive(warm.serverPid);
      if (!reapVerdict({ kind: "session", expiresAt: warm.expiresAt, ended, warm: true }, now).remove) continue;
      await this.removeSession({ ...warm, createdAt: 0, ended: false }).catch((error: Error) =>
        this.settings.warn(`could not reap warm session ${warm.id}: ${error.message}`),
      );
    }
    for (const session of sessions) {
      if (!reapVerdict({ kind: "session", expiresAt: session.expiresAt, ended: session.ended, warm: false }, now).remove) continue;
      try {
        await beforeRemove(session.id);
        await this.removeSession(session);
        reaped.push(session.id);
      } catch (error) {
        this.settings.warn(`could not reap session ${session.id}: ${(error as Error).message}`);
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
    if (this.runsc) {
      const { runscPath } = this.runsc;
      await execFileAsync(runscPath, ["--version"]).catch(() =>
        problems.push(`${runscPath} does not run; install gVisor (apt-get install runsc) or set LOCAL_RUNSC_PATH`),
      );
    }
    return problems.length === 0 ? { ok: true } : { ok: false, detail: problems.join("; ") };
  }

  /** No sandbox of this server outlives it (kernels included: their sessions' files stay for the next one). */
  async close(): Promise<void> {
    // The fork server ends beside its executions, not after them: its end is what ends any it never said had exited.
    await Promise.all([...[...this.sandboxes].map((sandbox) => sandbox.kill()), this.forkServer?.close()]);
  }

  /**
   * gVisor: removes runsc containers (and bundles) of this state directory
   * whose server has died (a crash leaves them running: their processes are
   * not the server's children). Only those labelled with this runtime.
   */
  private async removeDeadServersContainers(): Promise<void> {
    const runsc = this.runsc;
    if (!runsc) return;
    const ours = new Set([...this.sandboxes].map((sandbox) => sandbox.containerId));
    for (const containerId of await readdir(runsc.bundlesDir).catch(() => [] as string[])) {
      if (ours.has(containerId)) continue;
      const spec = await readFile(join(runsc.bundlesDir, containerId, "config.json"), "utf8")
        .then((text) => JSON.parse(text) as { annotations?: Record<string, string> })
        .catch(() => undefined);
      const annotations = spec?.annotations ?? {};
      if (spec && !isOfRuntime(annotations[RUNTIME_LABEL_KEY], this.runtime)) continue;
      const serverPid = Number(annotations[SERVER_PID_ANNOTATION]);
      // This server's own are all in `ours`; one being written (no config yet) by a live server is left alone.
      if (serverPid === process.pid || (spec === undefined && (await isRecent(join(runsc.bundlesDir, containerId))))) continue;
      if (serverPid && isAlive(serverPid)) continue;
      await deleteContainer(runsc, containerId);
      await rm(join(runsc.bundlesDir, containerId), { recursive: true, force: true });
    }
    // Containers runsc still knows without a bundle (removed by hand, a crash mid-removal): of our runtime by their id's bundle path.
    const listed = await execFileAsync(runsc.runscPath, [...runscGlobalArgs(runsc), "list", "--format=json"]).catch(() => undefined);
    const containers = listed ? (JSON.parse(listed.stdout || "null") as { id: string; bundle: string; pid: number }[] | null) : null;
    for (const container of containers ?? []) {
      if (ours.has(container.id) || !container.bundle.startsWith(`${runsc.bundlesDir}/`)) continue;
      const bundleGone = await access(container.bundle).then(
        () => false,
        () => true,
      );
      if (bundleGone) await deleteContainer(runsc, container.id);
    }
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

  /** gVisor: the runsc container ids of this driver's sandboxes still running (for tests that list leftovers). */
  containers(): string[] {
    return [...this.sandboxes].flatMap((sandbox) => (sandbox.containerId ? [sandbox.containerId] : []));
  }

  /** gVisor: the checkpoint the session's `role` goes on from, if one waits (see SessionCheckpoints). */
  private async waitingCheckpoint(session: LocalSession, role: SessionSandboxRole): Promise<string | undefined> {
    return this.checkpoints?.waiting(this.records.dir(session.id), role);
  }

  /**
   * A sandbox of the session on its workspace, running `argv` (or restored
   * from `restoreFrom`, gVisor), with its channel kept open (a kernel, a command runner).
   */
  private sessionSandbox(
    session: LocalSession,
    argv: string[],
    options: { kernel?: boolean; env: Record<string, string>; restoreFrom?: string },
  ): PersistentRunnerHandle {
    const workspaceDir = this.records.workspaceDir(session.id);
    const egressDir = this.sessionEgress.get(session.id);
    const { kernel, env, restoreFrom } = options;
    const sandbox = this.spawn({ name: session.id, workspaceDir, argv, kernel, env, egressDir, restoreFrom });
    this.roles.set(sandbox, kernel ? "kernel" : "commands");
    const { channel, requestOverrides } = this.runner(sandbox, workspaceDir);
    return { channel, requestOverrides, kill: async () => void (await sandbox.kill()), exitReport: () => sandboxExitReport(sandbox) };
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
  private spawn(
    options: Pick<SandboxSpawnOptions, "name" | "workspaceDir" | "preload" | "argv" | "kernel" | "env" | "egressDir" | "restoreFrom">,
  ): SandboxProcess {
    const sandbox = spawnSandbox({
      ...options,
      isolation: this.isolation,
      bwrapPath: this.settings.bwrapPath,
      rootfs: this.rootfs,
      python: this.settings.python,
      runAs: this.runAs,
      uid: this.settings.sandboxUid,
      tmpfsBytes: this.workspaceBytes,
      runsc: this.runsc,
    });
    return this.track(sandbox);
  }

  /** Keeps a sandbox in mind until it has exited. */
  private track(sandbox: SandboxProcess): SandboxProcess {
    this.sandboxes.add(sandbox);
    void sandbox.exited.then(() => this.sandboxes.delete(sandbox));
    return sandbox;
  }

  /** The egress directory to bind, if any; refuses one where this driver cannot bind it (gVisor, no bubblewrap). */
  private checkEgress(egress: SandboxEgress | undefined): string | undefined {
    if (!egress) return undefined;
    if (this.egressRefusal)
      throw new NotSupportedError({ message: `network egress is not offered by the local backend: ${this.egressRefusal}` });
    return egress.hostDirectory;
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
export function passthroughEnv(): Record<string, string> {
  const env: Record<string, string> = { MALLOC_ARENA_MAX: "2" };
  for (const key of ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  return env;
}

/** runsc's binary, state directory and platform for a backend's settings. */
export function runscOptions(settings: Pick<LocalBackendSettings, "runscPath" | "runscPlatform" | "stateDir">): RunscOptions {
  return { runscPath: settings.runscPath, stateRoot: join(settings.stateDir, "runsc", "state"), platform: settings.runscPlatform };
}

/** Made in the last minute (a bundle a live server is still writing). */
async function isRecent(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs < 60_000;
}

/** Why sandboxes of this isolation cannot reach the egress proxy, or undefined where they can (bubblewrap binds its socket). */
function localEgressRefusal(isolation: Isolation): string | undefined {
  if (isolation === "gvisor")
    return "its gVisor runtime cannot bind the proxy's socket yet (runsc's host-socket option is not wired in); use the default runtime";
  if (isolation === "none") return "it needs bubblewrap (sandboxes without it have the host's network)";
  return undefined;
}

/** How long a session sandbox whose channel ended may take to report its exit (its pipes close as it exits). */
const EXIT_REPORT_WAIT_MS = 1000;

/** How a session's sandbox process ended (`sandbox exit SIGKILL`), for a command that got no answer. */
async function sandboxExitReport(sandbox: SandboxProcess): Promise<string> {
  const exited = await withinMs(sandbox.exited, EXIT_REPORT_WAIT_MS, undefined);
  return exited === undefined ? "its sandbox process still runs (its pipes closed)" : `sandbox ${exited}`;
}
