export { createLocalBackend } from "./create-local-backend.js";
export { LocalBackend, localEngineOptions } from "./local-backend.js";
export { defaultLocalBackendSettings, type LocalBackendSettings, type LocalSandboxMode } from "./local-backend-settings.js";
export { LocalDriver } from "./local-driver.js";
export type { LocalSession } from "./session-records.js";
