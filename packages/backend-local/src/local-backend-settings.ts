import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultRootfs, defaultSandboxSettings, type SandboxSettings } from "@code-interpreter/core/sandbox";

/** How the local backend isolates code. */
export type LocalSandboxMode = "auto" | "require" | "off";

/**
 * Settings of the local backend; every field has a default. Of the shared ones
 * (core's SandboxSettings), `memoryLimitMb` limits the code's address space,
 * `maxProcesses` its processes and threads (RLIMIT_NPROC), and
 * `workspaceSizeMb` the tmpfs `/workspace` of one-shot executions and `/tmp`.
 */
export interface LocalBackendSettings extends SandboxSettings {
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
  /** gVisor's runsc binary (`sandboxRuntime: "gvisor"`). @default LOCAL_RUNSC_PATH, else `runsc` from PATH */
  runscPath: string;
  /** runsc's platform: `ptrace` works everywhere (`kvm` hangs on some hosts). @default LOCAL_RUNSC_PLATFORM, else ptrace */
  runscPlatform: string;
  /**
   * One-shot sandboxes forked from one preloaded interpreter (fork-server.ts), bubblewrap only: each execution a
   * fresh fork in fresh namespaces, instead of a bubblewrap sandbox that imports the preload itself.
   * Only with the one-shot `pool` on (createLocalBackend turns it off with the pool). Where it cannot run (no nested
   * user namespaces), start-up warns and starts a bubblewrap per sandbox.
   * @default on; `LOCAL_FORK_SERVER=0` (or `false`) in the environment turns it off
   */
  forkServer: boolean;
}

export function defaultLocalBackendSettings(): LocalBackendSettings {
  return {
    ...defaultSandboxSettings(),
    stateDir: join(tmpdir(), "code-interpreter-local"),
    rootfs: defaultRootfs(),
    python: "/usr/bin/python3",
    bwrapPath: "bwrap",
    sandbox: "auto",
    runscPath: "runsc",
    runscPlatform: "ptrace",
    forkServer: !["0", "false"].includes(process.env.LOCAL_FORK_SERVER ?? ""),
  };
}
