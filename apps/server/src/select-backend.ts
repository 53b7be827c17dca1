import { createLocalBackend, type LocalBackendSettings } from "@code-interpreter/backend-local";
import { type Backend, BackendUnavailableError } from "@code-interpreter/core";
import type { Config } from "./config.js";
import type { Logger } from "./logger.js";

/** Builds the backend EXECUTOR_BACKEND names; `auto` picks the best one that works here and says why. */
export async function selectBackend(config: Config, logger: Logger): Promise<Backend> {
  switch (config.EXECUTOR_BACKEND) {
    case "local":
      return createLocalBackend(localSettings(config, logger));
    case "auto": {
      logger.info("EXECUTOR_BACKEND=auto: using the local sandbox (the only backend in this build)");
      return createLocalBackend(localSettings(config, logger));
    }
    default:
      throw new BackendUnavailableError({
        message: `EXECUTOR_BACKEND=${config.EXECUTOR_BACKEND} is not available in this build; use local or auto`,
      });
  }
}

function localSettings(config: Config, logger: Logger): Partial<LocalBackendSettings> {
  return {
    stateDir: config.LOCAL_STATE_DIR,
    python: config.LOCAL_PYTHON,
    sandbox: config.LOCAL_SANDBOX,
    maxOutputBytes: config.MAX_OUTPUT_BYTES,
    memoryLimitMb: config.MEMORY_LIMIT_MB,
    cpuTimeLimitSec: config.CPU_TIME_LIMIT_SEC,
    warn: (message) => logger.warn(message),
  };
}
