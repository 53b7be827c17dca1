import type { SessionResponse } from "@code-interpreter/core";
import { z } from "zod";
import { sendJson } from "../api.js";
import { defineTool } from "./define-tool.js";
import { isoTime, networkInput, runtimeInput, secretsInput, stagedFilesInput } from "./shared.js";

/** `create_session`: a sandbox whose /workspace and Python state persist between calls. */
export const createSession = defineTool({
  name: "create_session",
  title: "Create a session",
  description:
    "Start a sandbox session: a /workspace and a Python process that persist between execute_python, run_bash, " +
    "upload_file, list_files and read_file calls that pass its session_id. Sessions expire after ttl_seconds " +
    '(the server\'s default when left out), or are paused then with on_expire "pause"; delete_session ends one early.',
  inputSchema: z.object({
    ttl_seconds: z.number().int().positive().optional().describe("Seconds until the session expires (capped by the server)"),
    files: stagedFilesInput,
    runtime: runtimeInput,
    network: networkInput,
    secrets: secretsInput,
    on_expire: z
      .enum(["delete", "pause"])
      .optional()
      .describe(
        '"delete" (default) or "pause": when its TTL runs out, keep the session paused (resume_session brings it back) instead of deleting it',
      ),
  }),
  annotations: { openWorldHint: false },
  async handler({ ttl_seconds, files, runtime, network, secrets, on_expire }, call) {
    const body = { ttl_seconds, files, runtime, network, secrets, on_expire };
    const session = await sendJson<SessionResponse>(call.api, "POST", "/v1/sessions", body, call.signal);
    return [
      {
        type: "text",
        text: `Created session ${session.session_id}, expiring at ${isoTime(session.expires_at)}. Pass session_id "${session.session_id}" to the other tools.`,
      },
    ];
  },
});
