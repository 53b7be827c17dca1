import { setTimeout as sleep } from "node:timers/promises";
import type { ExecutionResponse } from "@code-interpreter/core";
import { z } from "zod";
import { sendJson } from "../api.js";
import { executionStatusResult } from "../executions.js";
import { defineTool } from "./define-tool.js";

/** How often a waiting get_execution asks again. */
const POLL_INTERVAL_MS = 500;

/** `get_execution`: the status of a background run, and its result when done. */
export const getExecution = defineTool({
  name: "get_execution",
  title: "Collect a background execution",
  description:
    "The status of a run started with background: true (execute_python, run_bash): while it runs, how long so far; " +
    "when done, the same answer the call would have given in the foreground (output, images, tables, errors). " +
    "wait_seconds waits that long for it to finish before answering.",
  inputSchema: z.object({
    execution_id: z.string().min(1).describe("The execution_id a background call answered with (exec-…)"),
    wait_seconds: z
      .number()
      .int()
      .min(0)
      .max(60)
      .optional()
      .describe("Seconds to wait for the execution to finish before answering (default 0: answer at once)"),
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ execution_id, wait_seconds }, call) {
    const route = `/v1/executions/${encodeURIComponent(execution_id)}`;
    const deadline = Date.now() + (wait_seconds ?? 0) * 1000;
    let status = await sendJson<ExecutionResponse>(call.api, "GET", route, undefined, call.signal);
    while (status.status === "running" && Date.now() + POLL_INTERVAL_MS <= deadline) {
      await sleep(POLL_INTERVAL_MS, undefined, { signal: call.signal });
      status = await sendJson<ExecutionResponse>(call.api, "GET", route, undefined, call.signal);
    }
    return executionStatusResult(call.api, status, call.signal);
  },
});
