import { McpServer } from "@modelcontextprotocol/server";
import { registerFileResources } from "./resources.js";
import { registerTools, type ToolOptions } from "./tools/index.js";

/** What an MCP server of ours needs: where the HTTP API is, and the version it reports. */
export interface McpServerOptions extends ToolOptions {
  /** Reported to clients as the server's version. */
  version: string;
}

const INSTRUCTIONS = [
  "Runs Python and bash in isolated sandboxes (normally without network access).",
  "execute_python without session_id runs in a fresh sandbox each time.",
  "For work across several calls (variables, files), call create_session once and pass its session_id to",
  "execute_python, run_bash, upload_file, list_files and read_file; call delete_session when done",
  "(pause_session keeps its files without a sandbox, resume_session brings it back, fork_session copies it).",
  "Files the code writes come back as resource links; read them with read_file (or resources/read).",
].join(" ");

/**
 * An MCP server with the code-interpreter tools, transport-independent: the
 * SDK's serving entries build one per HTTP request at `/mcp`
 * (`createMcpHandler`) and one per stdio connection for `code-interpreter mcp`
 * (`serveStdio`).
 */
export function createMcpServer(options: McpServerOptions): McpServer {
  const server = new McpServer({ name: "code-interpreter", version: options.version }, { instructions: INSTRUCTIONS });
  registerTools(server, options);
  registerFileResources(server, options.api);
  return server;
}
