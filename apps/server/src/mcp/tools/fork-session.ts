import type { SessionResponse } from "@code-interpreter/core";
import { z } from "zod";
import { sendJson } from "../api.js";
import { defineTool } from "./define-tool.js";
import { isoTime, sessionIdInput, sessionPath, ttlInput } from "./shared.js";

/** `fork_session`: a new session with a copy of another's workspace. */
export const forkSession = defineTool({
  name: "fork_session",
  title: "Fork a session",
  description:
    "Start a new session with a copy of the /workspace of a running or paused one, to try something without touching the original. " +
    "The two change independently; the copy's Python starts fresh unless memory is kept.",
  inputSchema: z.object({ session_id: sessionIdInput, ttl_seconds: ttlInput }),
  annotations: { openWorldHint: false },
  async handler({ session_id, ttl_seconds }, call) {
    const body = ttl_seconds === undefined ? {} : { ttl_seconds };
    const fork = await sendJson<SessionResponse>(call.api, "POST", `${sessionPath(session_id)}/fork`, body, call.signal);
    return [
      {
        type: "text",
        text: `Created session ${fork.session_id}, a copy of ${session_id}, expiring at ${isoTime(fork.expires_at)}. Pass session_id "${fork.session_id}" to use the copy.`,
      },
    ];
  },
});
