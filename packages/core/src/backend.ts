import type { NetworkAttempt, NetworkPolicy } from "./network/egress.js";
import type { CodeError, OutputCallbacks, RichResult } from "./output.js";
import type { SandboxRuntime } from "./sandbox/runtimes.js";
import type { WorkspaceFileContent, WorkspaceFileSink } from "./workspace/workspace-tar.js";

/** Languages code can be written in; every sandbox environment has their interpreters (environment/environment.conf). */
export const LANGUAGES = ["python", "bash", "javascript"] as const;
export type Language = (typeof LANGUAGES)[number];

/** Version of the Backend interface; the server refuses a backend built for another one. */
export const BACKEND_SPECIFICATION_VERSION = "v1";

/** What a backend can do; the contract suite skips the rest and the server answers 501. */
export interface BackendCapabilities {
  sessions: boolean;
  /** Python in a session keeps its variables between calls (a kernel per session). */
  statefulPython?: boolean;
  /** Languages its sandboxes run; the server refuses others with 422. @default all of LANGUAGES (the declared environment has them) */
  languages?: readonly Language[];
  /** The kernel its sandboxes run on (see SANDBOX_RUNTIMES). @default "default" */
  runtime?: SandboxRuntime;
  /** Sandboxes can be given a way out through the egress proxy (issue 22's `network`). */
  egress?: boolean;
  /**
   * A session's snapshot (pause, resume, fork) keeps its processes, its
   * Python kernel's variables and imports included, not only its workspace:
   * a checkpointing runtime (gVisor on the local backend).
   */
  memorySnapshots?: boolean;
}

/**
 * What comes back from a run, as it comes: stdout, stderr and rich results
 * (OutputCallbacks), and the files it wrote.
 */
export interface RunCallbacks extends OutputCallbacks {
  /**
   * Takes the new and changed files one at a time as the sandbox's snapshot
   * arrives, in the order they come, each with its bytes as they arrive; the
   * next is read once its promise settles, so no file is held whole. The
   * result's `files` are then empty. A backend that cannot stream them
   * ignores it and returns `files`, so a caller handles both.
   */
  onFile?: WorkspaceFileSink;
}

/** A one-shot execution of code in a fresh sandbox; what it gives back as it runs goes to its callbacks. */
export interface ExecuteOptions extends RunCallbacks {
  code: string;
  /** `python` runs as `__main__.py`; `bash` and `javascript` (Node.js) run from a script in /tmp. @default "python" */
  language?: Language;
  stdin?: string | null;
  timeoutMs: number;
  lastLineInteractive: boolean;
  /** Files to place in `/workspace` first (paths already validated). */
  files: readonly WorkspaceFileContent[];
  /** Aborting stops the execution and removes its sandbox. */
  signal?: AbortSignal;
  /**
   * The runtime to run on, where a server routes between one backend per
   * runtime (its router picks the backend by it). A backend built for one
   * runtime runs on that one. @default the server's SANDBOX_RUNTIME
   */
  runtime?: SandboxRuntime;
  /** Who runs it (the caller's tenant): the egress proxy counts its connections by it. */
  tenant?: string;
  /** Its way out through the egress proxy (issue 22); absent, no network. A backend without a gateway refuses it (422). */
  network?: NetworkPolicy;
  /** Secrets the proxy adds as headers (with `network`). */
  secrets?: readonly string[];
}

/** Outcome of a command: output cut at the output limit, `exitCode` null on timeout. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** Files the command produced that are not in the workspace: a Python cell's matplotlib figures (PNG). */
  files?: WorkspaceFileContent[];
  /** Outputs left out of `files` (the workspace's snapshot was over its limit), and why. */
  skippedFiles?: { path: string; reason: string }[];
  /** How long the command waited for its sandbox to be ready: near 0 when a warm one was taken (for metrics). */
  sandboxWaitMs?: number;
  /** What Python code displayed, in display order, like a notebook's outputs (empty for bash and JavaScript). */
  results?: RichResult[];
  /** The exception Python code raised (null when none did). */
  error?: CodeError | null;
  /** In a session with a Python kernel: the number of this cell, counting from 1. */
  executionCount?: number;
  /** The destinations the code tried through the egress proxy: only when the request (or its session) had `network`. */
  network?: NetworkAttempt[];
}

/** Outcome of a one-shot execution: also the workspace files that are new or changed. */
export interface ExecutionResult extends CommandResult {
  files: WorkspaceFileContent[];
}

export interface SessionInfo {
  /** `code-session-<uuid>`: also the sandbox's name. */
  id: string;
  /** Unix seconds. */
  expiresAt: number;
  /** Who the session belongs to, as given at creation (absent when none was). */
  tenant?: string;
  /** The runtime its sandbox runs on, where the server routes between runtimes (absent otherwise). */
  runtime?: SandboxRuntime;
  /** Its network policy, when it was made with one (known to the server that holds its way out). */
  network?: NetworkPolicy;
  /** `paused`: its sandbox is gone and its snapshot kept (issue 23); a command resumes it. @default "running" */
  state?: "running" | "paused";
  /** Whether its kernel's memory is (for a paused one: was) kept by a pause; false: the workspace only. @default false */
  memory?: boolean;
  /** A paused session's snapshot. */
  snapshot?: { bytes: number; memory: boolean; createdAt: number };
}

/** A session just paused: its snapshot kept, its sandbox gone. */
export interface PausedSessionInfo extends SessionInfo {
  state: "paused";
  snapshot: { bytes: number; memory: boolean; createdAt: number };
}

/** How long a resumed or forked session lives, and (for a fork) whose it is. */
export interface SessionLifetimeOptions {
  ttlSeconds: number;
}

export interface CreateSessionOptions {
  ttlSeconds: number;
  /** Recorded on the sandbox itself and returned in SessionInfo, so any server replica can tell owners apart. */
  tenant?: string;
  files: readonly WorkspaceFileContent[];
  signal?: AbortSignal;
  /** As ExecuteOptions.runtime: the runtime the session's sandbox runs on. */
  runtime?: SandboxRuntime;
  /** As ExecuteOptions.network, for the session's whole life. */
  network?: NetworkPolicy;
  secrets?: readonly string[];
  /** When its TTL runs out: `delete` it, or `pause` it (its snapshot kept, as a pause keeps one). @default "delete" */
  onExpire?: SessionExpiryAction;
}

/** What happens to a session whose TTL runs out. */
export type SessionExpiryAction = "delete" | "pause";

/** A command in a session; its output goes to its callbacks as it comes. */
export interface SessionCommandOptions extends OutputCallbacks {
  sessionId: string;
  language: Language;
  /** bash: the command for `bash -c`; python and javascript: the code. */
  code: string;
  stdin?: string | null;
  timeoutMs: number;
  /** python only. @default true */
  lastLineInteractive?: boolean;
  signal?: AbortSignal;
}

/** Answer of Backend.health(). */
export interface BackendHealth {
  ok: boolean;
  /** When not ok: what is wrong, and what a person should do about it. */
  detail?: string;
}

/** Runs untrusted code in isolated sandboxes. Every backend passes the shared contract suite. */
export interface Backend {
  readonly specificationVersion: typeof BACKEND_SPECIFICATION_VERSION;
  /** Short name, e.g. `local`, `docker`, `kubernetes`. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;

  /** Runs code once in a fresh sandbox that is destroyed afterwards, whatever happens. */
  execute(options: ExecuteOptions): Promise<ExecutionResult>;

  /** Starts a session; throws NotSupportedError when the backend has none. */
  createSession(options: CreateSessionOptions): Promise<SessionInfo>;
  /** Throws SessionNotFoundError for an unknown id or one that is not a session of ours. */
  getSession(sessionId: string): Promise<SessionInfo>;
  listSessions(): Promise<SessionInfo[]>;
  /**
   * Replaces a session's network policy (connections it forbids are closed).
   * InvalidRequestError for a session without `network` or a policy outside
   * the operator's bounds. Absent: the backend offers no egress.
   */
  updateSessionNetwork?(sessionId: string, policy: NetworkPolicy): Promise<SessionInfo>;
  /**
   * Pauses a session (issue 23): waits for the command it runs, keeps its
   * snapshot, removes its sandbox. A paused one answers as it is. Absent:
   * the backend keeps no snapshots (501).
   */
  pauseSession?(sessionId: string): Promise<PausedSessionInfo>;
  /** Resumes a paused session in a fresh sandbox, its workspace restored; a running one answers as it is. */
  resumeSession?(sessionId: string, options: SessionLifetimeOptions): Promise<SessionInfo>;
  /** A new session (the same tenant) with a copy of the workspace of a running or paused one. */
  forkSession?(sessionId: string, options: SessionLifetimeOptions): Promise<SessionInfo>;
  /** Moves a session's expiry to now + ttlSeconds. */
  extendSession(sessionId: string, ttlSeconds: number): Promise<SessionInfo>;
  /** Throws SessionNotFoundError for an unknown id or one that is not a session of ours. */
  deleteSession(sessionId: string): Promise<void>;
  runInSession(options: SessionCommandOptions): Promise<CommandResult>;
  /**
   * Regular files in the session's workspace (for the session file routes).
   * With `onFile` they are handed over one at a time as they arrive (as
   * ExecuteOptions.onFile) and none is returned, so the workspace is never
   * held whole.
   */
  readSessionFiles(sessionId: string, options?: { onFile?: WorkspaceFileSink }): Promise<WorkspaceFileContent[]>;

  /**
   * Whether the backend can run code right now (engine reachable, image present, …);
   * `detail` says what is wrong and how to fix it. `GET /health` answers 503 when not ok.
   */
  health?(): Promise<BackendHealth>;

  /** Removes expired sessions, also those an earlier server left; returns their ids. */
  reapExpiredSessions(): Promise<string[]>;
  /** Stops what is running and releases resources; sessions persist where the backend allows. */
  close(): Promise<void>;
}
