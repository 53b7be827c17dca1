import type { ExecuteResponse, NetworkAttemptJson, RichResultJson, SessionCommandResponse } from "@code-interpreter/core";
import type { CallToolResult, ContentBlock } from "@modelcontextprotocol/server";
import { ApiError, type ApiFetch, send } from "./api.js";

/** Images larger than this are linked, not inlined: a model's context is not the place for them. */
const MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024;

/** MIME types MCP `image` content carries; other files come back as links (and read_file's text or base64). */
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

const MIME_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
  pdf: "application/pdf",
  json: "application/json",
  csv: "text/csv",
  txt: "text/plain",
  md: "text/markdown",
  html: "text/html",
  py: "text/x-python",
  sh: "text/x-shellscript",
};

/** The MIME type a file's name suggests; `application/octet-stream` when it suggests none. */
export function mimeTypeOf(path: string): string {
  const extension = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase() ?? "";
  return MIME_TYPES[extension] ?? "application/octet-stream";
}

/** Whether `mimeType` goes back as MCP `image` content. */
export function isImageType(mimeType: string): boolean {
  return IMAGE_TYPES.has(mimeType);
}

/** Where a file lives: in the file store (by id) or in a session's workspace (by path). */
export type FileRef = { fileId: string } | { sessionId: string; path: string };

const SCHEME = "code-interpreter:";

/** The URI of resource links: `code-interpreter://files/<file_id>` or `code-interpreter://sessions/<id>/files/<path>`. */
export function fileUri(ref: FileRef): string {
  if ("fileId" in ref) return `${SCHEME}//files/${encodeURIComponent(ref.fileId)}`;
  return `${SCHEME}//sessions/${encodeURIComponent(ref.sessionId)}/files/${ref.path.split("/").map(encodeURIComponent).join("/")}`;
}

/** The file a `fileUri` names, or undefined for another URI. */
export function parseFileUri(uri: string): FileRef | undefined {
  const stored = /^code-interpreter:\/\/files\/([^/]+)$/.exec(uri);
  if (stored?.[1]) return { fileId: decodeURIComponent(stored[1]) };
  const session = /^code-interpreter:\/\/sessions\/([^/]+)\/files\/(.+)$/.exec(uri);
  if (session?.[1] && session[2]) {
    return { sessionId: decodeURIComponent(session[1]), path: session[2].split("/").map(decodeURIComponent).join("/") };
  }
  return undefined;
}

/** A file's bytes and name (a session file's path; a stored file's name from Content-Disposition). */
export interface FileBytes {
  name: string;
  bytes: Uint8Array;
}

/** read_file and resources/read return at most this much: a model's context holds no more. */
export const MAX_READ_BYTES = 10 * 1024 * 1024;

/** A stored or session file, read through the HTTP routes; refused, unread, past MAX_READ_BYTES. */
export async function readFile(api: ApiFetch, ref: FileRef, signal?: AbortSignal): Promise<FileBytes> {
  const route =
    "path" in ref
      ? `/v1/sessions/${encodeURIComponent(ref.sessionId)}/files/${ref.path.split("/").map(encodeURIComponent).join("/")}`
      : `/v1/files/${encodeURIComponent(ref.fileId)}`;
  const response = await send(api, "GET", route, undefined, signal);
  const tooLarge = (size: number) =>
    new ApiError(
      413,
      `The file has ${size} bytes, more than read_file returns (${MAX_READ_BYTES}); read a part of it with run_bash or execute_python`,
    );
  // Refused before reading when the answer says its size (stored files do).
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > MAX_READ_BYTES) {
    await response.body?.cancel();
    throw tooLarge(declared);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_READ_BYTES) throw tooLarge(bytes.length);
  if ("path" in ref) return { name: ref.path, bytes };
  return { name: filenameOf(response.headers.get("content-disposition")) ?? ref.fileId, bytes };
}

/** The file name of `attachment; filename="…"`, preferring the RFC 5987 `filename*` form. */
function filenameOf(disposition: string | null): string | undefined {
  if (!disposition) return undefined;
  const extended = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition)?.[1];
  if (extended) {
    try {
      return decodeURIComponent(extended);
    } catch {
      // malformed: the plain form below
    }
  }
  return /filename\s*=\s*"([^"]*)"/i.exec(disposition)?.[1];
}

/** A resource link an agent can pass to read_file (as `uri`). */
export function fileLink(ref: FileRef, name: string, description: string, size?: number): ContentBlock {
  return {
    type: "resource_link",
    uri: fileUri(ref),
    name,
    mimeType: mimeTypeOf(name),
    description,
    ...(size === undefined ? {} : { size }),
  };
}

/** stdout, stderr and how the command ended, as text blocks (empty streams left out). */
export function commandContent(response: SessionCommandResponse & { network?: NetworkAttemptJson[] }): ContentBlock[] {
  return [...outputContent(response.stdout, response.stderr), endedContent(response), ...networkContent(response.network)];
}

/** The destinations the code tried through the egress proxy (answers have them only when the run had `network`), refusals with their reason. */
function networkContent(attempts: NetworkAttemptJson[] | undefined): ContentBlock[] {
  if (!attempts?.length) return [];
  const lines = attempts.map(
    (attempt) => `${attempt.allowed ? "allowed" : "denied"} ${attempt.host}:${attempt.port}${attempt.reason ? ` (${attempt.reason})` : ""}`,
  );
  return [{ type: "text", text: `[network]\n${lines.join("\n")}` }];
}

function outputContent(stdout: string, stderr: string): ContentBlock[] {
  const content: ContentBlock[] = [];
  if (stdout) content.push({ type: "text", text: stdout });
  if (stderr) content.push({ type: "text", text: `[stderr]\n${stderr}` });
  return content;
}

function endedContent(response: SessionCommandResponse): ContentBlock {
  const text = response.timed_out
    ? `[timed out after ${response.duration_ms} ms: the process was killed; pass a larger timeout_ms if it needs longer]`
    : `[exit code ${response.exit_code}, ${response.duration_ms} ms]`;
  return { type: "text", text };
}

/** What running Python answers over HTTP (one-shot or in a session): the fields the MCP content is made of. */
export type ExecutionAnswer = SessionCommandResponse &
  Partial<Pick<ExecuteResponse, "files" | "skipped_files" | "results" | "error" | "network">>;

/**
 * An execution's answer as an MCP tool result, showing what the HTTP answer
 * shows: its output; each rich result (a figure from `plt.show()` or
 * `display()` as `image` content, a table's text and its HTML as an embedded
 * `text/html` resource); the Python error with its traceback, which makes
 * the result a tool error (`isError`); a resource link for every file it
 * produced, and the images among them inline.
 */
export async function executionResult(api: ApiFetch, response: ExecutionAnswer, signal?: AbortSignal): Promise<CallToolResult> {
  const content = await executionContent(api, response, signal);
  return response.error ? { content, isError: true } : { content };
}

/** The content of `executionResult`. */
export async function executionContent(api: ApiFetch, response: ExecutionAnswer, signal?: AbortSignal): Promise<ContentBlock[]> {
  const { error } = response;
  // The traceback is also on stderr (as Python prints it): shown once, in the error block.
  const stderr =
    error?.traceback && response.stderr.includes(error.traceback) ? response.stderr.replace(error.traceback, "") : response.stderr;
  const content = outputContent(response.stdout, stderr);
  for (const [index, result] of (response.results ?? []).entries()) content.push(...(await richContent(api, result, index, signal)));
  const shown = new Set(content.flatMap((block) => (block.type === "image" ? [block.data] : [])));
  if (error) content.push({ type: "text", text: `[error] ${error.name}: ${error.value}\n${error.traceback.trimEnd()}` });
  content.push(endedContent(response));
  for (const file of response.files ?? []) {
    if (file.kind !== "file" || !file.file_id) continue;
    const ref = { fileId: file.file_id };
    content.push(fileLink(ref, file.path, `${file.path}, produced by the code: stored as file_id ${file.file_id} (read_file)`));
    const mimeType = mimeTypeOf(file.path);
    if (!isImageType(mimeType)) continue;
    const { bytes } = await readFile(api, ref, signal);
    const data = Buffer.from(bytes).toString("base64");
    // A session keeps its figures as files too (figure-<cell>-<n>.png): the same bytes are shown once.
    if (bytes.length <= MAX_INLINE_IMAGE_BYTES && !shown.has(data)) content.push({ type: "image", data, mimeType });
  }
  // Outputs the server could not keep are named, so the agent knows they exist and why they are missing.
  const skipped = response.skipped_files ?? [];
  if (skipped.length) {
    content.push({ type: "text", text: `[files left out: ${skipped.map((file) => `${file.path} (${file.reason})`).join("; ")}]` });
  }
  content.push(...networkContent(response.network));
  return content;
}

/** The image types of a rich result that become `image` content, in the order they are preferred. */
const RESULT_IMAGE_TYPES = ["image/png", "image/jpeg"] as const;

/**
 * One rich result as content: its image (inline base64, or fetched from the
 * file store when it was stored as `{file_id}`), else its text (a bare last
 * expression's text is already in stdout), and its HTML as an embedded
 * resource for hosts that render it.
 */
async function richContent(api: ApiFetch, result: RichResultJson, index: number, signal?: AbortSignal): Promise<ContentBlock[]> {
  const { data } = result;
  for (const mimeType of RESULT_IMAGE_TYPES) {
    const value = data[mimeType];
    if (value === undefined) continue;
    if (typeof value === "string") return [{ type: "image", data: value, mimeType }];
    const { bytes } = await readFile(api, { fileId: value.file_id }, signal);
    if (bytes.length <= MAX_INLINE_IMAGE_BYTES) return [{ type: "image", data: Buffer.from(bytes).toString("base64"), mimeType }];
    return [
      fileLink({ fileId: value.file_id }, `result-${index + 1}.${mimeType.slice(6)}`, "An image the code displayed, too large to inline"),
    ];
  }
  const content: ContentBlock[] = [];
  if (!result.is_main_result && data["text/plain"]) content.push({ type: "text", text: data["text/plain"] });
  const html = data["text/html"];
  if (typeof html === "string") {
    content.push({
      type: "resource",
      resource: { uri: `code-interpreter://results/${index + 1}.html`, mimeType: "text/html", text: html },
    });
  }
  return content;
}

/** A file's bytes as content: UTF-8 text as text, an image as `image` content, anything else as base64. */
export function fileContent(bytes: Uint8Array, name: string): ContentBlock[] {
  const mimeType = mimeTypeOf(name);
  const base64 = () => Buffer.from(bytes).toString("base64");
  if (isImageType(mimeType)) {
    return [
      { type: "text", text: `${name}: ${bytes.length} bytes (${mimeType}), as image content` },
      { type: "image", data: base64(), mimeType },
    ];
  }
  const text = asText(bytes);
  if (text !== undefined) return [{ type: "text", text }];
  return [{ type: "text", text: `${name}: ${bytes.length} bytes of binary data (${mimeType}), base64:\n${base64()}` }];
}

/** The bytes as a string when they are valid UTF-8 without NUL bytes, else undefined. */
export function asText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
