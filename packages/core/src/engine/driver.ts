import type { BackendCapabilities, BackendHealth } from "../backend.js";
import type { EgressTcpEndpoint } from "../network/egress.js";
import type { RunnerChannel } from "../runner/runner-channel.js";
import type { RunnerLimits, RunnerRequest } from "../runner/runner-protocol.js";
import type { SessionImage } from "./session-snapshots.js";

/** A runner waiting for one request on `channel`: a one-shot sandbox's. */
export interface RunnerHandle {
  readonly channel: RunnerChannel;
  /**
   * Stops the code for good, past the backstop or on abort: kills the
   * sandbox. Where the platform cannot kill it (an exec), it hangs up and the
   * runner's own timeout ends the code.
   */
  stop(): Promise<void>;
  /** How the sandbox ended, asked only when the runner gave no answer: `exit 137`, and whether memory ran out. */
  exit?(): Promise<{ exit: string; outOfMemory?: boolean }>;
  /** Request fields this runner needs set (without bubblewrap: the host directory that is its workspace). */
  requestOverrides?: Partial<RunnerRequest>;
}

/** A one-shot sandbox, started, its runner waiting for the request. */
export interface OneShotSandbox extends RunnerHandle {
  /** `code-exec-<uuid>`: also its container's, pod's or process's name. */
  readonly name: string;
  /** Unix seconds when the platform stops it at the latest (a warm one too near it is not taken); none: no such limit. */
  readonly deadline?: number;
  /** Made ahead of demand by the warm pool. */
  readonly warm: boolean;
  /** Removes it, whatever its state; one already gone counts as removed. */
  remove(): Promise<void>;
}

/**
 * A session's long-lived runner, its channel kept open: the Python kernel
 * (its variables stay between requests) or the command runner.
 */
export interface PersistentRunnerHandle {
  readonly channel: RunnerChannel;
  /** Kills the process for good (the channel is hung up first). */
  kill(): Promise<void>;
  /** Request fields its cells need set (see RunnerHandle). */
  requestOverrides?: Partial<RunnerRequest>;
  /**
   * How the runner ended, asked only when its channel ended in the middle of
   * a request (before it is killed): its process's exit status and its
   * sandbox's state, as the platform tells them cheaply (`exec exit 137
   * (SIGKILL); container running`). It goes into the error and the server's log.
   */
  exitReport?(): Promise<string>;
  /**
   * A command runner that takes one request, then goes with its sandbox (so
   * nothing a command leaves behind outlives it): the engine starts the next
   * one as soon as the request is answered, ready before the next command.
   */
  singleUse?: boolean;
}

export interface StartSandboxOptions {
  /** Seconds it may live, its start included: its deadline. */
  lifetimeSeconds: number;
  /**
   * Unix seconds until which a reaper leaves it be: its deadline, or for a
   * warm one its age limit (a claim moves it to the request's end).
   */
  expiresAt: number;
  /** Made ahead of demand: its runner preloads modules and waits. */
  warm: boolean;
  /** Modules the runner imports before its request comes (empty for a fresh one). */
  preload: readonly string[];
  /** The code's environment, which preloaded modules read from the start. */
  env: Record<string, string>;
  /** Its way out (issue 22): bind `hostDirectory` read-only at EGRESS_MOUNT_PATH and start the forwarder. Never for a warm one. */
  egress?: SandboxEgress;
  /**
   * The sandbox's name (`code-exec-<uuid>`) when the engine chose it: a sandbox
   * with `egress` is known to the proxy by it. Absent: the driver names it (newExecName).
   */
  name?: string;
  signal?: AbortSignal;
}

/** What a driver gives a sandbox that may reach the egress proxy (see `EgressAttachment`). */
export interface SandboxEgress {
  /** Host directory with the proxy's socket for this sandbox and the CA bundle. */
  hostDirectory: string;
  /** The proxy's TCP address and this sandbox's token (kubernetes: a pod cannot be given a host socket). */
  tcp?: EgressTcpEndpoint;
  /** The proxy's CA certificate (PEM), for a sandbox that writes its own bundle (with `tcp`). */
  caCertificate?: string;
}

/** What a session's sandbox is made with. */
export interface CreateSessionSandboxOptions {
  /** `code-session-<uuid>`. */
  id: string;
  /** Unix seconds; for a warm one, its age limit. */
  expiresAt: number;
  tenant?: string;
  /** Made ahead of demand for the session pool: no session until claimed. */
  warm?: boolean;
  /**
   * The code's environment, which its kernel and commands start with
   * (modules read it when imported). The engine always passes it; a driver
   * called without it (a test) uses the declared one.
   */
  env?: Record<string, string>;
  /** Its way out (see StartSandboxOptions.egress); never for a warm one. */
  egress?: SandboxEgress;
}

/** What a session's kernel or command runner is started with. */
export interface StartSessionRunnerOptions {
  /** The code's environment (see CreateSessionSandboxOptions.env). */
  env: Record<string, string>;
  /** The limits the runner sets on itself (`kernelArgv`): the engine's plan. */
  limits: RunnerLimits;
}

/** A session as its sandbox (or its record) describes it; a driver may add what it needs. */
export interface SessionRecord {
  /** `code-session-<uuid>`. */
  id: string;
  /** Unix seconds; past it the session is gone. */
  expiresAt: number;
  tenant?: string;
  /** Its sandbox has stopped for good, and its workspace with it. */
  ended: boolean;
}

/**
 * What a backend must do on its platform, and nothing else: create, start,
 * attach to, list by label, claim and remove sandboxes, and open runners in
 * them. Everything else — the conversation with the runner, deadlines and
 * expiry, limits and the code's environment, warm pools, session queueing,
 * kernels, the delete race, reap verdicts (`reapVerdict`), health and close —
 * is the SandboxEngine's, written once, configured by the engine's own
 * options (SandboxEngineOptions), never through the driver. A driver keeps all
 * state on the platform (names, labels, annotations, files), so a restarted
 * server or another replica finds it.
 */
export interface SandboxDriver<Session extends SessionRecord = SessionRecord, Sandbox extends OneShotSandbox = OneShotSandbox> {
  /** Short name: `local`, `docker`, `kubernetes`. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /**
   * Why its sandboxes cannot be given a way out (`capabilities.egress` false), for the person who asked for
   * `network`: what the 422 says instead of the generic refusal.
   */
  readonly egressRefusal?: string;

  /** Creates and starts a one-shot sandbox with its runner attached; removes what it made if that fails. */
  start(options: StartSandboxOptions): Promise<Sandbox>;
  /** A warm sandbox was taken by a request that needs it until `expiresAt`: its platform record says so from now on. */
  claim?(sandbox: Sandbox, expiresAt: number): Promise<void>;

  /**
   * Creates a session's sandbox and waits until it can run commands; removes
   * what it made if that fails. A `warm` one is made ahead of demand for the
   * session pool: it is no session (not found, not listed) until it is
   * claimed, and a reaper removes it once `expiresAt` has passed.
   */
  createSession(session: CreateSessionSandboxOptions, signal?: AbortSignal): Promise<Session>;
  /**
   * Makes a warm session sandbox the session it was made for: from now on
   * its records carry this expiry and tenant, where any replica (also after
   * a restart) reads them and nothing inside the sandbox can write them.
   */
  claimSession?(session: Session, claim: { expiresAt: number; tenant?: string }): Promise<Session>;
  /** The session of ours with this (well-formed) id, or undefined. */
  findSession(id: string): Promise<Session | undefined>;
  listSessions(): Promise<Session[]>;
  /** Moves the expiry; returns the one that holds (a platform may cap it). */
  extendSession(session: Session, expiresAt: number): Promise<number>;
  /** Removes the session's sandbox and records; false when it was already gone. */
  removeSession(session: Session): Promise<boolean>;
  /** Starts the session's Python kernel (`kernelArgv`). */
  startKernel(session: Session, options: StartSessionRunnerOptions): Promise<PersistentRunnerHandle>;
  /**
   * Starts the session's command runner (`serveArgv`), waiting for its sandbox
   * to run if it is starting: one process, kept open (or single-use, started
   * ahead), that answers every command, file read and staging of the session,
   * so none pays for an exec of its own.
   */
  startCommandRunner(session: Session, options: StartSessionRunnerOptions): Promise<PersistentRunnerHandle>;

  /**
   * Session snapshots (issue 23): the session's workspace and writable areas
   * as a tar, and with a checkpointing runtime (gVisor) its processes' memory
   * image too (`memory`), its commands settled. The session must work on
   * afterwards as if untouched (the source of a fork, a pause whose snapshot
   * is refused). Absent: the engine takes the workspace's regular files through the
   * session's command runner, which every driver has (modes, symlinks and
   * empty directories are not kept).
   */
  snapshotSession?(session: Session): Promise<SessionImage>;
  /**
   * Puts an image into a session sandbox just made by `createSession` (a
   * resume's, a fork's): with `memory`, its processes go on where they were.
   * Absent: through the command runner.
   */
  restoreSession?(session: Session, image: SessionImage): Promise<void>;

  /**
   * Removes expired and ended sessions and orphaned sandboxes, whoever left
   * them, as `reapVerdict` decides for each; calls `beforeRemove` with a
   * session's id before removing it (the engine stops its work). Returns the
   * ids of the sessions removed.
   */
  reap(now: number, beforeRemove: (sessionId: string) => Promise<void>): Promise<string[]>;
  /** Whether sandboxes can be made right now; `detail` says what is wrong and what to do. */
  health(): Promise<BackendHealth>;
  /** Turns a platform error into the project's (a 503 naming the cause, a session that vanished). @default as is */
  translateError?(error: unknown): unknown;
  /** Releases what the driver holds, after the engine has stopped its work. */
  close?(): Promise<void>;
}
