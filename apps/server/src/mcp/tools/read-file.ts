import { z } from "zod";
import { ApiError } from "../api.js";
import { type FileRef, fileContent, parseFileUri, readFile } from "../content.js";
import { defineTool } from "./define-tool.js";
import { sessionIdInput, workspacePath } from "./shared.js";

const ReadFileInput = z.object({
  session_id: sessionIdInput.optional(),
  path: z.string().min(1).optional().describe("With session_id: the path relative to /workspace"),
  file_id: z.string().min(1).optional().describe("A stored file's id"),
  uri: z.string().min(1).optional().describe("A code-interpreter:// uri from a resource link"),
});

/** `read_file`: a session file, a stored file, or a resource link's file. */
export const readFileTool = defineTool({
  name: "read_file",
  title: "Read a file",
  description:
    "Read a file: a session's workspace file (session_id and path), a stored file (file_id), or a resource link's uri. " +
    "Text comes back as text, images as images, other binary data as base64; files over 10 MiB are refused (read a part with run_bash).",
  inputSchema: ReadFileInput,
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler(input, call) {
    const { name, bytes } = await readFile(call.api, fileRefOf(input), call.signal);
    return fileContent(bytes, name);
  },
});

function fileRefOf(input: z.output<typeof ReadFileInput>): FileRef {
  if (input.uri !== undefined) {
    const ref = parseFileUri(input.uri);
    if (!ref) throw new ApiError(422, `uri ${JSON.stringify(input.uri)} is not a code-interpreter:// file link`);
    return ref;
  }
  if (input.file_id !== undefined) return { fileId: input.file_id };
  if (input.session_id !== undefined && input.path !== undefined) return { sessionId: input.session_id, path: workspacePath(input.path) };
  throw new ApiError(422, "Name the file: session_id and path, or file_id, or uri");
}
