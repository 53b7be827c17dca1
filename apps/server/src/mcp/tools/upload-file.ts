import type { FileUploadResponse, SessionPythonResponse } from "@code-interpreter/core";
import { z } from "zod";
import { ApiError, type ApiFetch, sendJson } from "../api.js";
import { fileLink } from "../content.js";
import { defineTool } from "./define-tool.js";
import { sessionIdInput, sessionPath, workspacePath } from "./shared.js";

/** `upload_file`: into a session's /workspace, or into the file store for staging. */
export const uploadFile = defineTool({
  name: "upload_file",
  title: "Upload a file",
  description:
    "Put a file where code can read it. With session_id: writes it into that session's /workspace at path. " +
    "Without: stores it and returns a file_id; pass files: [{path, file_id}] to execute_python or create_session " +
    "to place it in /workspace. Text goes as is (encoding 'text'); binary data as base64 (encoding 'base64').",
  inputSchema: z.object({
    path: z
      .string()
      .min(1)
      .describe("Relative path in /workspace (e.g. 'data/input.csv'); without session_id its last part is the file name"),
    content: z.string().describe("The file's content: text, or base64 when encoding is 'base64'"),
    encoding: z.enum(["text", "base64"]).default("text").describe("How content is given"),
    session_id: sessionIdInput.optional(),
  }),
  annotations: { openWorldHint: false },
  async handler({ path: filePath, content, encoding, session_id }, call) {
    const bytes = decode(content, encoding);
    if (session_id === undefined) {
      const name = filePath.split("/").filter(Boolean).pop() ?? filePath;
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(bytes)]), name);
      const stored = await sendJson<FileUploadResponse>(call.api, "POST", "/v1/files", form, call.signal);
      return [
        {
          type: "text",
          text: `Stored ${stored.filename} (${stored.size_bytes} bytes) as file_id ${stored.file_id}. Place it with files: [{"path": ${JSON.stringify(filePath)}, "file_id": "${stored.file_id}"}].`,
        },
        fileLink({ fileId: stored.file_id }, stored.filename, `Uploaded file ${stored.filename}`, stored.size_bytes),
      ];
    }
    const relative = workspacePath(filePath);
    await writeIntoSession(call.api, session_id, relative, bytes, call.timeoutMs(undefined), call.signal);
    return [
      { type: "text", text: `Wrote ${bytes.length} bytes to /workspace/${relative} in session ${session_id}.` },
      fileLink({ sessionId: session_id, path: relative }, relative, `/workspace/${relative} in session ${session_id}`, bytes.length),
    ];
  },
});

function decode(content: string, encoding: "text" | "base64"): Buffer {
  if (encoding === "text") return Buffer.from(content, "utf8");
  const compact = content.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new ApiError(422, "content is not valid base64 (encoding 'base64'); send text with encoding 'text'");
  }
  return Buffer.from(compact, "base64");
}

/**
 * Writes a file into a session's workspace. The HTTP API has no route for
 * that, so a Python cell in the session writes it (through the session Python
 * route: the session's limits and the caller's tenancy apply). The bytes go
 * in the cell as base64, inside a function so no name is left behind.
 */
async function writeIntoSession(
  api: ApiFetch,
  session: string,
  relative: string,
  bytes: Buffer,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const code = [
    "def __code_interpreter_upload(path, data):",
    "    import base64, os",
    "    folder = os.path.dirname(path)",
    "    if folder:",
    "        os.makedirs(folder, exist_ok=True)",
    "    with open(path, 'wb') as target:",
    "        target.write(base64.b64decode(data))",
    `__code_interpreter_upload(${JSON.stringify(relative)}, "${bytes.toString("base64")}")`,
    "del __code_interpreter_upload",
  ].join("\n");
  const result = await sendJson<SessionPythonResponse>(
    api,
    "POST",
    `${sessionPath(session)}/python`,
    { code, last_line_interactive: false, timeout_ms: timeoutMs },
    signal,
  );
  if (result.exit_code !== 0) {
    throw new ApiError(
      500,
      `Writing /workspace/${relative} failed: ${result.stderr.trim() || (result.timed_out ? "timed out" : `exit code ${result.exit_code}`)}`,
    );
  }
}
