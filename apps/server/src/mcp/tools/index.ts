import type { McpServer } from "@modelcontextprotocol/server";
import { createSession } from "./create-session.js";
import { registerToolList, type ToolDefinition, type ToolOptions } from "./define-tool.js";
import { deleteSession } from "./delete-session.js";
import { executePython } from "./execute-python.js";
import { forkSession } from "./fork-session.js";
import { getExecution } from "./get-execution.js";
import { listFiles } from "./list-files.js";
import { listSessions } from "./list-sessions.js";
import { pauseSession } from "./pause-session.js";
import { readFileTool } from "./read-file.js";
import { resumeSession } from "./resume-session.js";
import { runBash } from "./run-bash.js";
import { uploadFile } from "./upload-file.js";

export type { ToolCall, ToolDefinition, ToolOptions } from "./define-tool.js";

/**
 * Every code-interpreter tool, in the order `tools/list` shows them. A new
 * tool is one module in this folder (`defineTool({...})`) and one entry here.
 * Each is a thin mapping onto HTTP routes: one code path for `/mcp` and
 * `code-interpreter mcp`.
 */
export const TOOLS: readonly ToolDefinition[] = [
  executePython,
  runBash,
  createSession,
  deleteSession,
  listSessions,
  pauseSession,
  resumeSession,
  forkSession,
  uploadFile,
  listFiles,
  readFileTool,
  getExecution,
];

/** Registers the code-interpreter tools on `server`. */
export function registerTools(server: McpServer, options: ToolOptions): void {
  registerToolList(server, TOOLS, options);
}
