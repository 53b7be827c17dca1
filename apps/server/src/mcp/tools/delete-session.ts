import { z } from "zod";
import { send } from "../api.js";
import { defineTool } from "./define-tool.js";
import { sessionIdInput, sessionPath } from "./shared.js";

/** `delete_session`: ends a session and removes its sandbox. */
export const deleteSession = defineTool({
  name: "delete_session",
  title: "Delete a session",
  description: "End a session now: its sandbox, /workspace files and Python state are removed.",
  inputSchema: z.object({ session_id: sessionIdInput }),
  annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async handler({ session_id }, call) {
    await send(call.api, "DELETE", sessionPath(session_id), undefined, call.signal);
    return [{ type: "text", text: `Deleted session ${session_id}.` }];
  },
});
