import type { SessionPauseResponse } from "@code-interpreter/core";
import { z } from "zod";
import { sendJson } from "../api.js";
import { defineTool } from "./define-tool.js";
import { isoTime, sessionIdInput, sessionPath } from "./shared.js";

/** `pause_session`: keeps a session's workspace as a snapshot and frees its sandbox. */
export const pauseSession = defineTool({
  name: "pause_session",
  title: "Pause a session",
  description:
    "Pause a session: its /workspace is kept as a snapshot on the server and its sandbox is freed. It waits for a command the " +
    "session is running. resume_session (or any execute_python or run_bash with its session_id) brings it back; unless the " +
    "answer says memory was kept, Python variables are not (the files are).",
  inputSchema: z.object({ session_id: sessionIdInput }),
  annotations: { idempotentHint: true, openWorldHint: false },
  async handler({ session_id }, call) {
    const paused = await sendJson<SessionPauseResponse>(call.api, "POST", `${sessionPath(session_id)}/pause`, {}, call.signal);
    const { bytes, memory, created_at } = paused.snapshot;
    const kept = memory ? "its files and Python memory" : "its files (not its Python variables)";
    return [
      { type: "text", text: `Paused session ${paused.session_id} at ${isoTime(created_at)}: a ${bytes}-byte snapshot keeps ${kept}.` },
    ];
  },
});
