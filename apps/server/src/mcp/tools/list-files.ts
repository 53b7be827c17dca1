import type { FileListResponse } from "@code-interpreter/core";
import { z } from "zod";
import { sendJson } from "../api.js";
import { fileLink } from "../content.js";
import { defineTool } from "./define-tool.js";
import { sessionIdInput, sessionPath } from "./shared.js";

/** `list_files`: a session's workspace files, or the caller's stored files. */
export const listFiles = defineTool({
  name: "list_files",
  title: "List files",
  description:
    "With session_id: the files in that session's /workspace (what code has written there so far). " +
    "Without: your stored files (uploads and files earlier one-shot runs produced) with their file_ids. " +
    "Each comes with a resource link; read it with read_file.",
  inputSchema: z.object({ session_id: sessionIdInput.optional() }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ session_id }, call) {
    if (session_id === undefined) {
      const { files } = await sendJson<FileListResponse>(call.api, "GET", "/v1/files", undefined, call.signal);
      if (!files.length) return [{ type: "text", text: "No stored files." }];
      return [
        { type: "text", text: files.map((file) => `${file.file_id}  ${file.filename}  ${file.size_bytes} bytes`).join("\n") },
        ...files.map((file) => fileLink({ fileId: file.file_id }, file.filename, `Stored file ${file.filename}`, file.size_bytes)),
      ];
    }
    const { files } = await sendJson<{ files: { path: string; size_bytes: number }[] }>(
      call.api,
      "GET",
      `${sessionPath(session_id)}/files`,
      undefined,
      call.signal,
    );
    if (!files.length) return [{ type: "text", text: `No files in /workspace of session ${session_id}.` }];
    return [
      { type: "text", text: files.map((file) => `${file.path}  ${file.size_bytes} bytes`).join("\n") },
      ...files.map((file) =>
        fileLink(
          { sessionId: session_id, path: file.path },
          file.path,
          `/workspace/${file.path} in session ${session_id}`,
          file.size_bytes,
        ),
      ),
    ];
  },
});
