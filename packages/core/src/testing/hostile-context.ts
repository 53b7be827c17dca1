import type { Backend, CommandResult, ExecuteOptions, ExecutionResult } from "../backend.js";

/** Settings the hostile suite builds the backend with: small, so limits are reached fast. */
export interface HostileSettings {
  /** MAX_OUTPUT_BYTES. */
  maxOutputBytes: number;
  /** MEMORY_LIMIT_MB. */
  memoryLimitMb: number;
  /** Size of the tmpfs `/workspace` and `/tmp` (and the file-size limit). */
  workspaceSizeMb: number;
  /** Processes and threads per sandbox. */
  maxProcesses: number;
}

/** The most files a workspace snapshot returns (the runner's cap). */
export const MAX_SNAPSHOT_FILES = 10_000;

/** Options of one hostile test. */
export interface HostileTestOptions {
  /** @default the suite's 90 s */
  timeout?: number;
  /** It needs sessions: skipped, saying so, on a backend without them. @default false */
  sessions?: boolean;
}

/** What the groups of hostile tests share: the harness and helpers of describeHostileSuite. */
export interface HostileContext {
  /** Declares a test: it asserts the safe outcome, then the suite checks health and leftovers (or runs it as a known gap). */
  hostile: (name: string, body: () => Promise<void>, options?: HostileTestOptions) => void;
  /** A one-shot execution (10 s timeout, no last-line display, no files unless given). */
  run: (source: string, extra?: Partial<ExecuteOptions>) => Promise<ExecutionResult>;
  /** A bash command in a session (10 s timeout unless given). */
  bash: (sessionId: string, command: string, timeoutMs?: number) => Promise<CommandResult>;
  /** Runs the body with a new session that is deleted afterwards, whatever happens. */
  withSession: (body: (sessionId: string) => Promise<void>) => Promise<void>;
  /** The backend under test (built in beforeAll). */
  backend: () => Backend;
  settings: HostileSettings;
  /** The value of the secret set in the test process's environment. */
  secret: string;
  /** HostileSuiteOptions.syscallSlowdown: file-heavy tests' timeouts are multiplied by it. */
  syscallSlowdown: number;
}
