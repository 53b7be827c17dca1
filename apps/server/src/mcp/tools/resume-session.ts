import type { SessionResumeResponse } from "@code-interpreter/core";
import { z } from "zod";
import { sendJson } from "../api.js";
import { defineTool } from "./define-tool.js";
import { isoTime, sessionIdInput, sessionPath, ttlInput } from "./shared.js";

/** `resume_session`: a paused session runs again, with its workspace. */
export const resumeSession = defineTool({
  name: "resume_session",
  title: "Resume a session",
  description:
    "Resume a paused session in a fresh sandbox with its /workspace restored (a running one answers as it is). " +
    "Commands sent to a paused session resume it too; this is for doing it ahead of time.",
  inputSchema: z.object({ session_id: sessionIdInput, ttl_seconds: ttlInput }),
  annotations: { idempotentHint: true, openWorldHint: false },
  async handler({ session_id, ttl_seconds }, call) {
    const body = ttl_seconds === undefined ? {} : { ttl_seconds };
    const resumed = await sendJson<SessionResumeResponse>(call.api, "POST", `${sessionPath(session_id)}/resume`, body, call.signal);
    return [{ type: "text", text: `Session ${resumed.session_id} is running, expiring at ${isoTime(resumed.expires_at)}.` }];
  },
});
