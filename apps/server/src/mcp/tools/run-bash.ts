import type { SessionCommandResponse } from "@code-interpreter/core";
import { z } from "zod";
import { sendJson } from "../api.js";
import { commandContent } from "../content.js";
import { startInBackground } from "../executions.js";
import { defineTool } from "./define-tool.js";
import { backgroundInput, sessionIdInput, sessionPath, timeoutInput } from "./shared.js";

/** `run_bash`: a command line in a session's /workspace. */
export const runBash = defineTool({
  name: "run_bash",
  title: "Run a shell command in a session",
  description:
    "Run a bash command (bash -c) in a session's /workspace and get its stdout, stderr and exit code: " +
    "list or move files, inspect data, run scripts. Needs a session_id from create_session. " +
    "With background: true the call answers at once with an execution_id for get_execution.",
  inputSchema: z.object({
    session_id: sessionIdInput,
    cmd: z.string().min(1).describe("The command line, e.g. 'ls -la && head data.csv'"),
    timeout_ms: timeoutInput,
    background: backgroundInput,
  }),
  annotations: { openWorldHint: false },
  async handler({ session_id, cmd, timeout_ms, background }, call) {
    const route = `${sessionPath(session_id)}/bash`;
    const body = { cmd, timeout_ms: call.timeoutMs(timeout_ms) };
    if (background) return startInBackground(call, route, body);
    return commandContent(await sendJson<SessionCommandResponse>(call.api, "POST", route, body, call.signal));
  },
});
