import type {
  ExecuteResponse,
  FileListResponse,
  FileUploadResponse,
  SessionCommandResponse,
  SessionListResponse,
  SessionPythonResponse,
  SessionResponse,
} from "@code-interpreter/core";
import { CodeInterpreterError } from "@code-interpreter/core";
import { validateWorkspacePath } from "@code-interpreter/core/workspace";
import type { CallToolResult, ContentBlock, McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";
import { ApiError, type ApiFetch, send, sendJson } from "./api.js";
import { commandContent, executionContent, type FileRef, fileContent, fileLink, parseFileUri, readFile } from "./content.js";

/** What the tools need: where the HTTP API is, and the timeout of a call that gives none. */
export interface ToolOptions {
  api: ApiFetch;
  /** timeout_ms of execute_python and run_bash when the call gives none. @default 30000 */
  defaultTimeoutMs?: number;
}

const sessionId = z
  .string()
  .min(1)
  .describe("A session id from create_session (code-session-…). The session's /workspace and Python variables persist between calls.");
const timeoutMs = z
  .number()
  .int()
  .positive()
  .optional()
  .describe("Milliseconds before the code is killed (default 30000; the server refuses more than its MAX_EXEC_TIMEOUT_MS).");
const stagedFiles = z
  .array(
    z.object({
      path: z.string().min(1).describe("Where the file lands, relative to /workspace"),
      file_id: z.string().min(1).describe("A file_id from upload_file (without session_id), list_files or an earlier run's output"),
    }),
  )
  .optional()
  .describe("Stored files to place in /workspace before the code runs.");

const path = (id: string) => `/v1/sessions/${encodeURIComponent(id)}`;

/**
 * Registers the code-interpreter tools on `server`. Every tool is a thin
 * mapping onto HTTP routes through `options.api`: one code path for both
 * interfaces. A refused call (unknown session, limit reached, bad input)
 * comes back as a tool result with `isError: true` and the reason, never as
 * a protocol error.
 */
export function registerTools(server: McpServer, options: ToolOptions): void {
  const { api } = options;
  const timeout = (requested: number | undefined) => requested ?? options.defaultTimeoutMs ?? 30_000;

  server.registerTool(
    "execute_python",
    {
      title: "Run Python",
      description:
        "Run Python 3 code in an isolated sandbox (normally without network access) and get its stdout, stderr and exit code. " +
        "A bare last expression is printed like in a REPL. " +
        "Without session_id every call starts from a fresh, empty /workspace, and the files the code writes come back " +
        "as resource links (read them with read_file), PNG images (plt.savefig('plot.png')) also as images. " +
        "With session_id (from create_session) variables, imports and files persist between calls, like a notebook; " +
        "files stay in the session's /workspace (list_files, read_file) and the matplotlib figures a call leaves open " +
        "(plt.show()) come back as images.",
      inputSchema: z.object({
        code: z.string().min(1).describe("The Python code to run, in /workspace"),
        session_id: sessionId.optional(),
        timeout_ms: timeoutMs,
        files: stagedFiles,
      }),
      annotations: { openWorldHint: false },
    },
    ({ code, session_id, timeout_ms, files }, ctx) =>
      tool(async () => {
        if (session_id === undefined) {
          const response = await sendJson<ExecuteResponse>(
            api,
            "POST",
            "/v1/execute",
            { code, timeout_ms: timeout(timeout_ms), files },
            ctx.mcpReq.signal,
          );
          return executionContent(api, response, ctx.mcpReq.signal);
        }
        if (files?.length) throw new ApiError(422, "files are staged only without session_id; put files into a session with upload_file");
        const response = await sendJson<SessionPythonResponse>(
          api,
          "POST",
          `${path(session_id)}/python`,
          { code, timeout_ms: timeout(timeout_ms) },
          ctx.mcpReq.signal,
        );
        return executionContent(api, response, ctx.mcpReq.signal);
      }),
  );

  server.registerTool(
    "run_bash",
    {
      title: "Run a shell command in a session",
      description:
        "Run a bash command (bash -c) in a session's /workspace and get its stdout, stderr and exit code: " +
        "list or move files, inspect data, run scripts. Needs a session_id from create_session.",
      inputSchema: z.object({
        session_id: sessionId,
        cmd: z.string().min(1).describe("The command line, e.g. 'ls -la && head data.csv'"),
        timeout_ms: timeoutMs,
      }),
      annotations: { openWorldHint: false },
    },
    ({ session_id, cmd, timeout_ms }, ctx) =>
      tool(async () =>
        commandContent(
          await sendJson<SessionCommandResponse>(
            api,
            "POST",
            `${path(session_id)}/bash`,
            { cmd, timeout_ms: timeout(timeout_ms) },
            ctx.mcpReq.signal,
          ),
        ),
      ),
  );

  server.registerTool(
    "create_session",
    {
      title: "Create a session",
      description:
        "Start a sandbox session: a /workspace and a Python process that persist between execute_python, run_bash, " +
        "upload_file, list_files and read_file calls that pass its session_id. Sessions expire after ttl_seconds " +
        "(the server's default when left out); delete_session ends one early.",
      inputSchema: z.object({
        ttl_seconds: z.number().int().positive().optional().describe("Seconds until the session expires (capped by the server)"),
        files: stagedFiles,
      }),
      annotations: { openWorldHint: false },
    },
    ({ ttl_seconds, files }, ctx) =>
      tool(async () => {
        const session = await sendJson<SessionResponse>(api, "POST", "/v1/sessions", { ttl_seconds, files }, ctx.mcpReq.signal);
        return [
          {
            type: "text",
            text: `Created session ${session.session_id}, expiring at ${expiry(session.expires_at)}. Pass session_id "${session.session_id}" to the other tools.`,
          },
        ];
      }),
  );

  server.registerTool(
    "delete_session",
    {
      title: "Delete a session",
      description: "End a session now: its sandbox, /workspace files and Python state are removed.",
      inputSchema: z.object({ session_id: sessionId }),
      annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    ({ session_id }, ctx) =>
      tool(async () => {
        await send(api, "DELETE", path(session_id), undefined, ctx.mcpReq.signal);
        return [{ type: "text", text: `Deleted session ${session_id}.` }];
      }),
  );

  server.registerTool(
    "list_sessions",
    {
      title: "List sessions",
      description: "List your live sessions with their expiry times.",
      inputSchema: z.object({}),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (_arguments, ctx) =>
      tool(async () => {
        const { sessions } = await sendJson<SessionListResponse>(api, "GET", "/v1/sessions", undefined, ctx.mcpReq.signal);
        const lines = sessions.map((session) => `${session.session_id}  expires ${expiry(session.expires_at)}`);
        return [{ type: "text", text: lines.length ? lines.join("\n") : "No sessions." }];
      }),
  );

  server.registerTool(
    "upload_file",
    {
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
        session_id: sessionId.optional(),
      }),
      annotations: { openWorldHint: false },
    },
    ({ path: filePath, content, encoding, session_id }, ctx) =>
      tool(async () => {
        const bytes = decode(content, encoding);
        if (session_id === undefined) {
          const name = filePath.split("/").filter(Boolean).pop() ?? filePath;
          const form = new FormData();
          form.append("file", new Blob([new Uint8Array(bytes)]), name);
          const stored = await sendJson<FileUploadResponse>(api, "POST", "/v1/files", form, ctx.mcpReq.signal);
          return [
            {
              type: "text",
              text: `Stored ${stored.filename} (${stored.size_bytes} bytes) as file_id ${stored.file_id}. Place it with files: [{"path": ${JSON.stringify(filePath)}, "file_id": "${stored.file_id}"}].`,
            },
            fileLink({ fileId: stored.file_id }, stored.filename, `Uploaded file ${stored.filename}`, stored.size_bytes),
          ];
        }
        const relative = workspacePath(filePath);
        await writeIntoSession(api, session_id, relative, bytes, timeout(undefined), ctx.mcpReq.signal);
        return [
          { type: "text", text: `Wrote ${bytes.length} bytes to /workspace/${relative} in session ${session_id}.` },
          fileLink({ sessionId: session_id, path: relative }, relative, `/workspace/${relative} in session ${session_id}`, bytes.length),
        ];
      }),
  );

  server.registerTool(
    "list_files",
    {
      title: "List files",
      description:
        "With session_id: the files in that session's /workspace (what code has written there so far). " +
        "Without: your stored files (uploads and files earlier one-shot runs produced) with their file_ids. " +
        "Each comes with a resource link; read it with read_file.",
      inputSchema: z.object({ session_id: sessionId.optional() }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ session_id }, ctx) =>
      tool(async () => {
        if (session_id === undefined) {
          const { files } = await sendJson<FileListResponse>(api, "GET", "/v1/files", undefined, ctx.mcpReq.signal);
          if (!files.length) return [{ type: "text", text: "No stored files." }];
          return [
            { type: "text", text: files.map((file) => `${file.file_id}  ${file.filename}  ${file.size_bytes} bytes`).join("\n") },
            ...files.map((file) => fileLink({ fileId: file.file_id }, file.filename, `Stored file ${file.filename}`, file.size_bytes)),
          ];
        }
        const { files } = await sendJson<{ files: { path: string; size_bytes: number }[] }>(
          api,
          "GET",
          `${path(session_id)}/files`,
          undefined,
          ctx.mcpReq.signal,
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
      }),
  );

  server.registerTool(
    "read_file",
    {
      title: "Read a file",
      description:
        "Read a file: a session's workspace file (session_id and path), a stored file (file_id), or a resource link's uri. " +
        "Text comes back as text, images as images, other binary data as base64; files over 10 MiB are refused (read a part with run_bash).",
      inputSchema: z.object({
        session_id: sessionId.optional(),
        path: z.string().min(1).optional().describe("With session_id: the path relative to /workspace"),
        file_id: z.string().min(1).optional().describe("A stored file's id"),
        uri: z.string().min(1).optional().describe("A code-interpreter:// uri from a resource link"),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ session_id, path: filePath, file_id, uri }, ctx) =>
      tool(async () => {
        const ref = fileRefOf({ session_id, path: filePath, file_id, uri });
        const { name, bytes } = await readFile(api, ref, ctx.mcpReq.signal);
        return fileContent(bytes, name);
      }),
  );
}

/** Runs a tool's work; what the API (or the tool itself) refuses becomes an `isError` result with the reason. */
async function tool(work: () => Promise<ContentBlock[]>): Promise<CallToolResult> {
  try {
    return { content: await work() };
  } catch (error) {
    const reason =
      error instanceof ApiError || CodeInterpreterError.isInstance(error)
        ? error.message
        : `The tool failed: ${(error as Error)?.message ?? String(error)}`;
    return { content: [{ type: "text", text: reason }], isError: true };
  }
}

function expiry(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function decode(content: string, encoding: "text" | "base64"): Buffer {
  if (encoding === "text") return Buffer.from(content, "utf8");
  const compact = content.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new ApiError(422, "content is not valid base64 (encoding 'base64'); send text with encoding 'text'");
  }
  return Buffer.from(compact, "base64");
}

/** The path normalised as the HTTP routes do; the reason when they would refuse it. */
function workspacePath(filePath: string): string {
  return validateWorkspacePath(filePath.replace(/^\/workspace\//, ""));
}

function fileRefOf(args: {
  session_id?: string | undefined;
  path?: string | undefined;
  file_id?: string | undefined;
  uri?: string | undefined;
}): FileRef {
  if (args.uri !== undefined) {
    const ref = parseFileUri(args.uri);
    if (!ref) throw new ApiError(422, `uri ${JSON.stringify(args.uri)} is not a code-interpreter:// file link`);
    return ref;
  }
  if (args.file_id !== undefined) return { fileId: args.file_id };
  if (args.session_id !== undefined && args.path !== undefined) return { sessionId: args.session_id, path: workspacePath(args.path) };
  throw new ApiError(422, "Name the file: session_id and path, or file_id, or uri");
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
    `${path(session)}/python`,
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
