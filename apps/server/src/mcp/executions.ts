import type { BackgroundAccepted, ExecuteResponse, ExecutionResponse } from "@code-interpreter/core";
import type { CallToolResult, ContentBlock } from "@modelcontextprotocol/server";
import { type ApiFetch, sendJson } from "./api.js";
import { commandContent, executionResult } from "./content.js";

/** Starts `route` with `background: true`; the content tells the agent how to collect the answer. */
export async function startInBackground(
  call: { api: ApiFetch; signal: AbortSignal },
  route: string,
  body: object,
): Promise<ContentBlock[]> {
  const started = await sendJson<BackgroundAccepted>(call.api, "POST", route, { ...body, background: true }, call.signal);
  return [
    {
      type: "text",
      text: `Started execution ${started.execution_id} in the background. Collect its result with get_execution (execution_id "${started.execution_id}").`,
    },
  ];
}

/** An execution's status as a tool result: while running, a note; when done, what the foreground call would have answered. */
export async function executionStatusResult(api: ApiFetch, status: ExecutionResponse, signal: AbortSignal): Promise<CallToolResult> {
  const id = status.execution_id;
  switch (status.status) {
    case "running": {
      const seconds = Math.max(0, Math.round(Date.now() / 1000 - status.created_at));
      return {
        content: [
          { type: "text", text: `Execution ${id} is still running (${seconds} s so far). Call get_execution again to collect it.` },
        ],
      };
    }
    case "completed": {
      // The wire shape says only "an object": it is the foreground route's answer for this kind.
      const result = (status.result ?? { stdout: "", stderr: "", exit_code: null, timed_out: false, duration_ms: 0 }) as ExecuteResponse;
      if (status.kind === "session_bash") return { content: commandContent(result) };
      return executionResult(api, result, signal);
    }
    case "failed":
      return { content: [{ type: "text", text: `Execution ${id} failed: ${status.error?.detail ?? "no reason given"}` }], isError: true };
    default:
      return { content: [{ type: "text", text: `Execution ${id} was cancelled.` }], isError: true };
  }
}
