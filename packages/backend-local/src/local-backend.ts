import { SandboxEngine, type SandboxEngineOptions, sandboxLimits, warmPoolMemoryBytes } from "@code-interpreter/core/engine";
import type { LocalBackendSettings } from "./local-backend-settings.js";
import { LocalDriver, passthroughEnv } from "./local-driver.js";
import type { Isolation } from "./sandbox-process.js";
import type { LocalSession } from "./session-records.js";

/**
 * The embedded backend: core's sandbox engine over the local driver. Each
 * execution runs in a fresh bubblewrap sandbox on this host; a session is a
 * workspace directory on disk that each command mounts into a fresh sandbox,
 * so sessions outlive a server restart.
 */
export class LocalBackend extends SandboxEngine<LocalSession> {
  declare readonly driver: LocalDriver;

  constructor(
    readonly settings: LocalBackendSettings,
    /** How sandboxes are made; see createLocalBackend, which probes for bubblewrap. */
    readonly isolation: Isolation,
  ) {
    super(new LocalDriver(settings, isolation), localEngineOptions(settings, isolation));
  }
}

/**
 * The engine's configuration from the backend's settings. There is no
 * cgroup: memory and processes are rlimits. Local sandboxes have no deadline
 * of their own, so a warm one serves any timeout; warm one-shot sandboxes
 * need bubblewrap or gVisor (without it a one-shot workspace is a host directory made
 * per run).
 */
export function localEngineOptions(settings: LocalBackendSettings, isolation: Isolation): SandboxEngineOptions {
  return {
    limits: sandboxLimits(settings),
    cgroup: false,
    python: settings.python,
    env: passthroughEnv(),
    pool: isolation === "none" ? false : settings.pool,
    sessionPool: settings.sessionPool,
    warmPoolMemoryBytes: warmPoolMemoryBytes(settings),
    preload: settings.preload,
    warn: settings.warn,
    ...(settings.egress ? { egress: settings.egress } : {}),
    ...(settings.snapshots ? { snapshots: settings.snapshots } : {}),
  };
}
