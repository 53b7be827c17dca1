export { type AppOptions, createApp } from "./app.js";
export { type Config, ConfigError, ConfigSchema, loadConfig } from "./config.js";
export type { Env } from "./env.js";
export { ExecutionSlots } from "./execution-slots.js";
export { type ExecutionSpec, Executions, type ExecutionsOptions } from "./executions/executions.js";
export {
  ApiError,
  type ApiFetch,
  createMcpServer,
  type FetchableApp,
  inProcessApi,
  type McpServerOptions,
  remoteApi,
} from "./mcp/index.js";
export { createLogger, type Logger, type LoggerOptions, type LogLevel } from "./observability/logger.js";
export { type RuntimeOffer, RuntimeRouter, runtimeOffer } from "./runtime-router.js";
export { selectBackend } from "./select-backend.js";
export { openService, type RunningServer, type Service, startServer } from "./server.js";
export { VERSION } from "./version.js";
