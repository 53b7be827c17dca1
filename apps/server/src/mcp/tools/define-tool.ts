import { CodeInterpreterError } from "@code-interpreter/core";
import type { CallToolResult, ContentBlock, ServerContext, ToolAnnotations } from "@modelcontextprotocol/server";
import type { z } from "zod";
import { ApiError, type ApiFetch } from "../api.js";

/** What the tools need: where the HTTP API is, and the timeout of a call that gives none. */
export interface ToolOptions {
  api: ApiFetch;
  /** timeout_ms of execute_python and run_bash when the call gives none. @default 30000 */
  defaultTimeoutMs?: number;
}

/** What a tool's handler gets besides its input: the API, the call's signal, its timeout default and progress. */
export interface ToolCall {
  api: ApiFetch;
  /** Aborted when the MCP request is cancelled or its connection ends. */
  signal: AbortSignal;
  /** `requested`, or the server's default for execute_python and run_bash. */
  timeoutMs(requested: number | undefined): number;
  /** Sends a progress notification, when the caller asked for them (a progressToken); undefined otherwise. */
  progress?: (progress: number, message: string) => Promise<void>;
}

/** A tool's answer: content blocks, or a whole result (to mark a tool error the tool found itself). */
export type ToolAnswer = ContentBlock[] | CallToolResult;

/** One MCP tool: its name, what an agent reads about it, its input schema, and what it does. */
export interface ToolDefinition<Input extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  inputSchema: Input;
  annotations: ToolAnnotations;
  handler(input: z.output<Input>, call: ToolCall): Promise<ToolAnswer>;
}

/** Types a tool definition by its schema; the list of tools holds them with the schema erased. */
export function defineTool<Input extends z.ZodObject>(definition: ToolDefinition<Input>): ToolDefinition {
  return definition as unknown as ToolDefinition;
}

/**
 * Registers `tools` on `server`. A refused call (unknown session, limit
 * reached, bad input) comes back as a tool result with `isError: true` and
 * the reason, never as a protocol error.
 */
export function registerToolList(server: McpServerLike, tools: readonly ToolDefinition[], options: ToolOptions): void {
  const timeoutMs = (requested: number | undefined) => requested ?? options.defaultTimeoutMs ?? 30_000;
  for (const tool of tools) {
    const { name, handler, ...config } = tool;
    server.registerTool(name, config, (input: unknown, context: ServerContext) =>
      answer(() => handler(input as never, { api: options.api, signal: context.mcpReq.signal, timeoutMs, progress: progressOf(context) })),
    );
  }
}

/** The part of McpServer registration needs (its overloads do not accept a schema-erased definition). */
interface McpServerLike {
  registerTool(
    name: string,
    config: Omit<ToolDefinition, "name" | "handler">,
    callback: (input: unknown, context: ServerContext) => Promise<CallToolResult>,
  ): unknown;
}

function progressOf(context: ServerContext): ToolCall["progress"] {
  const progressToken = context.mcpReq._meta?.progressToken;
  if (progressToken === undefined) return undefined;
  return (progress, message) =>
    context.mcpReq.notify({ method: "notifications/progress", params: { progressToken, progress, message } }).catch(() => {
      // A client that has gone away: the call's signal ends the work.
    });
}

/** Runs a tool's work; what the API (or the tool itself) refuses becomes an `isError` result with the reason. */
async function answer(work: () => Promise<ToolAnswer>): Promise<CallToolResult> {
  try {
    const result = await work();
    return Array.isArray(result) ? { content: result } : result;
  } catch (error) {
    const reason =
      error instanceof ApiError || CodeInterpreterError.isInstance(error)
        ? error.message
        : `The tool failed: ${(error as Error)?.message ?? String(error)}`;
    return { content: [{ type: "text", text: reason }], isError: true };
  }
}
