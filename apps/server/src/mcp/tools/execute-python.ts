import type { ExecuteResponse, SessionPythonResponse } from "@code-interpreter/core";
import { z } from "zod";
import { ApiError, sendJson } from "../api.js";
import { executionResult } from "../content.js";
import { startInBackground } from "../executions.js";
import { runStreamed } from "../stream.js";
import { defineTool, type ToolCall } from "./define-tool.js";
import {
  backgroundInput,
  networkInput,
  runtimeInput,
  secretsInput,
  sessionIdInput,
  sessionPath,
  stagedFilesInput,
  timeoutInput,
} from "./shared.js";

/** Progress notifications carry at most this much of the output (its end): enough to see where a run is. */
const PROGRESS_TAIL_CHARS = 4000;

/** `execute_python`: one-shot or in a session; in the background, or streaming progress when asked. */
export const executePython = defineTool({
  name: "execute_python",
  title: "Run Python",
  description:
    "Run Python 3 code in an isolated sandbox (normally without network access) and get its stdout, stderr and exit code. " +
    "A bare last expression is printed like in a REPL. Figures (plt.show(), display()) come back as images, a DataFrame " +
    "as its text table (and its HTML as a text/html resource), and an exception as a tool error with its traceback. " +
    "Without session_id every call starts from a fresh, empty /workspace, and the files the code writes come back " +
    "as resource links (read them with read_file), PNG images (plt.savefig('plot.png')) also as images. " +
    "With session_id (from create_session) variables, imports and files persist between calls, like a notebook; " +
    "files stay in the session's /workspace (list_files, read_file). " +
    "With background: true the call answers at once with an execution_id for get_execution.",
  inputSchema: z.object({
    code: z.string().min(1).describe("The Python code to run, in /workspace"),
    session_id: sessionIdInput.optional(),
    timeout_ms: timeoutInput,
    files: stagedFilesInput,
    background: backgroundInput,
    runtime: runtimeInput.describe(
      "Without session_id: the sandbox runtime, default or gvisor (gVisor's user-space kernel in between, slower to start), among those " +
        "the server offers; the server's default when left out. A session keeps the runtime it was created with (create_session).",
    ),
    network: networkInput.describe(
      "Without session_id: let the code reach these destinations through the server's egress proxy ({allow_out: [domains, *.domains, IPs, CIDRs], " +
        "deny_out: [IPs, CIDRs]}); left out, no network. A session keeps the network it was created with (create_session).",
    ),
    secrets: secretsInput,
  }),
  annotations: { openWorldHint: false },
  async handler({ code, session_id, timeout_ms, files, background, runtime, network, secrets }, call) {
    if (session_id !== undefined && files?.length) {
      throw new ApiError(422, "files are staged only without session_id; put files into a session with upload_file");
    }
    if (session_id !== undefined && runtime !== undefined) {
      throw new ApiError(422, "runtime is chosen when a session is created (create_session); leave it out with session_id");
    }
    if (session_id !== undefined && (network !== undefined || secrets !== undefined)) {
      throw new ApiError(422, "network and secrets are chosen when a session is created (create_session); leave them out with session_id");
    }
    const route = session_id === undefined ? "/v1/execute" : `${sessionPath(session_id)}/python`;
    const body = {
      code,
      timeout_ms: call.timeoutMs(timeout_ms),
      ...(session_id === undefined ? { files, runtime, network, secrets } : {}),
    };
    if (background) return startInBackground(call, route, body);
    const { progress } = call;
    const answer = progress
      ? await runWithProgress(call, progress, `${route}/stream`, body)
      : await sendJson<ExecuteResponse | SessionPythonResponse>(call.api, "POST", route, body, call.signal);
    return executionResult(call.api, answer, call.signal);
  },
});

/** Runs through the streaming route, sending the output so far (its tail) as progress notifications. */
function runWithProgress(call: ToolCall, progress: NonNullable<ToolCall["progress"]>, route: string, body: object) {
  let chunks = 0;
  return runStreamed(call.api, route, body, call.signal, (output) => {
    chunks += 1;
    void progress(chunks, output.length > PROGRESS_TAIL_CHARS ? `…${output.slice(-PROGRESS_TAIL_CHARS)}` : output);
  });
}
