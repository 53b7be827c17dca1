import { SandboxEngine } from "@code-interpreter/core/engine";
import type { LocalBackendSettings } from "./local-backend-settings.js";
import { LocalDriver } from "./local-driver.js";
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
    super(new LocalDriver(settings, isolation));
  }
}
