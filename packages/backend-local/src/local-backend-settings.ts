import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_PRELOAD, defaultRootfs } from "@code-interpreter/core";

/** How the local backend isolates code. */
export type LocalSandboxMode = "auto" | "require" | "off";

/** Settings of the local backend; every field has a default. */
export interface LocalBackendSettings {
  /** Sessions' workspaces live here. @default LOCAL_STATE_DIR, else `<tmpdir>/code-interpreter-local` */
  stateDir: string;
  /**
   * The Debian root filesystem bound read-only as every sandbox's `/`: the
   * sandbox environment prepared from the declaration
   * (images/environment/prepare-rootfs.sh), the same the executor image is
   * made from. `host` binds this host's /usr instead (whatever it has installed).
   * @default LOCAL_ROOTFS, else /var/cache/code-interpreter/rootfs/<environment hash>
   */
  rootfs: string;
  /** Python that runs the code, a path inside the sandbox. @default LOCAL_PYTHON, else /usr/bin/python3 */
  python: string;
  /** bubblewrap binary. @default LOCAL_BWRAP_PATH, else `bwrap` from PATH */
  bwrapPath: string;
  /** `require` refuses to run without bubblewrap; `off` runs with rlimits only. @default LOCAL_SANDBOX, else auto */
  sandbox: LocalSandboxMode;
  /** @default MAX_OUTPUT_BYTES, else 1 MiB */
  maxOutputBytes: number;
  /** Address-space limit of the code. @default MEMORY_LIMIT_MB, else 512 */
  memoryLimitMb: number;
  /** @default CPU_TIME_LIMIT_SEC, else 30 */
  cpuTimeLimitSec: number;
  /**
   * Largest file the code may write (RLIMIT_FSIZE, capped at the workspace's size): a bigger
   * write fails with EFBIG in the code's own traceback, and no output is too large to keep.
   * @default MAX_FILE_SIZE_MB, else 100
   */
  maxFileSizeMb: number;
  /** Size of the tmpfs `/workspace` of one-shot executions and of `/tmp`. @default 256 */
  workspaceSizeMb: number;
  /** Processes and threads the code may have at once. @default 128 */
  maxProcesses: number;
  /** The uid and gid code runs as. @default 65532 */
  sandboxUid: number;
  /**
   * Sandboxes started ahead of demand, each used once: `min` kept warm, up to
   * `max` under load, back to `min` after `idleTimeoutMs` without requests;
   * `false` starts one per request.
   * @default SANDBOX_POOL_MIN, SANDBOX_POOL_MAX, SANDBOX_POOL_IDLE_TIMEOUT_SEC, else 1, 4, 60 s
   */
  pool: { min: number; max: number; idleTimeoutMs: number } | false;
  /** Modules warm sandboxes import before a request arrives (missing ones are skipped). @default SANDBOX_PRELOAD, else the data stack */
  preload: readonly string[];
  /** Receives warnings (missing bubblewrap, …). @default console.warn */
  warn: (message: string) => void;
}

export function defaultLocalBackendSettings(): LocalBackendSettings {
  return {
    stateDir: join(tmpdir(), "code-interpreter-local"),
    rootfs: defaultRootfs(),
    python: "/usr/bin/python3",
    bwrapPath: "bwrap",
    sandbox: "auto",
    maxOutputBytes: 1024 * 1024,
    memoryLimitMb: 512,
    cpuTimeLimitSec: 30,
    workspaceSizeMb: 256,
    maxFileSizeMb: 100,
    maxProcesses: 128,
    sandboxUid: 65532,
    pool: { min: 1, max: 4, idleTimeoutMs: 60_000 },
    preload: DEFAULT_PRELOAD,
    warn: (message) => console.warn(message),
  };
}
