export { ApiError, type ApiFetch, type FetchableApp, inProcessApi, remoteApi } from "./api.js";
export { createMcpServer, type McpServerOptions } from "./mcp-server.js";
export type { ToolOptions } from "./tools/index.js";
