import type { SessionListResponse } from "@code-interpreter/core";
import { z } from "zod";
import { sendJson } from "../api.js";
import { defineTool } from "./define-tool.js";
import { isoTime } from "./shared.js";

/** `list_sessions`: the caller's live sessions. */
export const listSessions = defineTool({
  name: "list_sessions",
  title: "List sessions",
  description: "List your live sessions with their expiry times and sandbox runtimes.",
  inputSchema: z.object({}),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler(_input, call) {
    const { sessions } = await sendJson<SessionListResponse>(call.api, "GET", "/v1/sessions", undefined, call.signal);
    const lines = sessions.map(
      (session) => `${session.session_id}  expires ${isoTime(session.expires_at)}${session.runtime ? `  runtime ${session.runtime}` : ""}`,
    );
    return [{ type: "text", text: lines.length ? lines.join("\n") : "No sessions." }];
  },
});
