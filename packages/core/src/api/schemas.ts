import { z } from "zod";
import { LANGUAGES } from "../backend.js";
import { networkEntryKind } from "../network/network-entries.js";
import { SANDBOX_RUNTIMES } from "../sandbox/runtimes.js";

/** A file from the store to place in the sandbox workspace before the code runs. */
export const FileInputSchema = z.object({
  path: z.string().min(1, "path must not be empty"),
  file_id: z.string().min(1, "file_id must not be empty"),
});
export type FileInput = z.infer<typeof FileInputSchema>;

/** A workspace entry returned after an execution, saved to the file store. */
export const WorkspaceFileSchema = z.object({
  path: z.string(),
  kind: z.enum(["file", "directory"]),
  file_id: z.string().nullable(),
});
export type WorkspaceFile = z.infer<typeof WorkspaceFileSchema>;

/** An output file left out of `files`, and why (e.g. over MAX_FILE_SIZE_MB). */
export const SkippedFileSchema = z.object({
  path: z.string(),
  reason: z.string(),
});
export type SkippedFile = z.infer<typeof SkippedFileSchema>;

/**
 * `skipped_files`: present only when an output was left out, so answers
 * without one stay byte for byte what onyx sends.
 */
const skippedFilesField = z.array(SkippedFileSchema).optional();

/** Binary data of a rich result that was stored instead of inlined (over RICH_RESULT_INLINE_MAX_BYTES). */
export const StoredDataSchema = z.object({ file_id: z.string() });

/**
 * One rich result, like a notebook's output: what `display()` showed, an open
 * figure, or (`is_main_result`) the value of a bare last expression. `data` is
 * keyed by MIME type; `text/plain` is always there; binary types are base64 or
 * `{file_id}` of the stored bytes; `application/json` is JSON.
 */
export const RichResultSchema = z.object({
  is_main_result: z.boolean(),
  data: z
    .object({
      "text/plain": z.string(),
      "text/html": z.string().optional(),
      "text/markdown": z.string().optional(),
      "text/latex": z.string().optional(),
      "image/png": z.union([z.string(), StoredDataSchema]).optional(),
      "image/jpeg": z.union([z.string(), StoredDataSchema]).optional(),
      "image/svg+xml": z.string().optional(),
      "application/json": z.unknown().optional(),
      "application/pdf": z.union([z.string(), StoredDataSchema]).optional(),
    })
    .catchall(z.unknown()),
  /** A simple matplotlib plot described: type (line, bar, scatter, pie), title, axis labels, series. */
  chart: z.record(z.string(), z.unknown()).optional(),
});
export type RichResultJson = z.infer<typeof RichResultSchema>;

/** The exception the code raised: class name, message, and a traceback of the user's code only. */
export const CodeErrorSchema = z.object({
  name: z.string(),
  value: z.string(),
  traceback: z.string(),
});
export type CodeErrorJson = z.infer<typeof CodeErrorSchema>;

/** `results` and `error`, after today's fields: onyx clients read what they always did. */
const richFields = {
  results: z.array(RichResultSchema).describe("What the code displayed, in order, like a notebook's outputs (MIME bundles)"),
  error: CodeErrorSchema.nullable().describe("The exception the code raised, or null"),
};

const languageEnum = z
  .enum(LANGUAGES, { error: `language must be one of: ${LANGUAGES.join(", ")}` })
  .describe("python (default), bash, or javascript (Node.js)");
const languageField = languageEnum.default("python");

/** `runtime` on the requests that start a sandbox: which kernel it runs on, among those the server offers (GET /v1/capabilities). */
const runtimeField = z
  .enum(SANDBOX_RUNTIMES, {
    error: (issue) => `runtime ${JSON.stringify(issue.input)} is not a sandbox runtime; runtimes are: ${SANDBOX_RUNTIMES.join(", ")}`,
  })
  .optional()
  .describe(
    "The sandbox runtime: `default` (the host's kernel behind namespaces and a syscall policy) or `gvisor` (gVisor's user-space kernel in between). " +
      "Only those the server offers (GET /v1/capabilities); another is 422. Left out: the server's default (SANDBOX_RUNTIME)",
  );

/** Most entries in each of `allow_out` and `deny_out`. */
export const MAX_NETWORK_ENTRIES = 256;
/** Most secrets a request may name. */
export const MAX_SECRETS = 32;

const networkEntries = (field: "allow_out" | "deny_out") =>
  z
    .array(
      z
        .string(`${field} entries must be strings`)
        .max(255, `${field} entries are at most 255 characters`)
        .superRefine((entry, context) => {
          const kind = networkEntryKind(entry);
          if (field === "allow_out" && kind === undefined) {
            context.addIssue({
              code: "custom",
              message: `${field} entry ${JSON.stringify(entry)} is not a domain, a *. wildcard domain, an IP address or a CIDR`,
            });
          } else if (field === "deny_out" && kind !== "address" && kind !== "cidr") {
            context.addIssue({
              code: "custom",
              message: `${field} entry ${JSON.stringify(entry)} is not an IP address or a CIDR (deny_out takes addresses only; leave a domain out of allow_out instead)`,
            });
          }
        }),
      `${field} must be a list of strings`,
    )
    .max(MAX_NETWORK_ENTRIES, `${field} has more than ${MAX_NETWORK_ENTRIES} entries`)
    .default([]);

/**
 * `network`: what the code may reach through the egress proxy, within the
 * operator's bounds (EGRESS_ALLOW, EGRESS_DENY). Left out, the
 * sandbox has no network at all, as always.
 */
export const NetworkPolicySchema = z
  .strictObject(
    {
      allow_out: networkEntries("allow_out").describe(
        "Domains (exact, or a `*.` wildcard such as `*.pythonhosted.org`), IP addresses and CIDRs the code may connect to",
      ),
      deny_out: networkEntries("deny_out").describe("IP addresses and CIDRs the code may never connect to; they win over allow_out"),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `network takes only allow_out and deny_out, not ${issue.keys.join(", ")}`
          : "network must be an object {allow_out, deny_out}",
    },
  )
  .describe(
    "The sandbox's way out through the egress proxy; left out, the sandbox has no network (GET /v1/capabilities says whether the server offers it)",
  );
export type NetworkPolicyJson = z.infer<typeof NetworkPolicySchema>;

const networkField = NetworkPolicySchema.optional();
const secretsField = z
  .array(
    z.string("secrets must be names").regex(/^[A-Za-z0-9_.-]{1,64}$/, "secrets are names of 1 to 64 letters, digits, _ . or -"),
    "secrets must be a list of names",
  )
  .max(MAX_SECRETS, `secrets names more than ${MAX_SECRETS} secrets`)
  .optional()
  .describe(
    "Names of secrets the operator configured (EGRESS_SECRETS): the egress proxy adds each as a header on requests to its hosts; the value never enters the sandbox. Needs `network`",
  );

/** One destination the code tried, in the answer's `network` (only when the request, or its session, had `network`). */
export const NetworkAttemptSchema = z.object({
  host: z.string(),
  port: z.int(),
  allowed: z.boolean(),
  reason: z.string().optional().describe("Why it was refused, in words a person can act on"),
});
export type NetworkAttemptJson = z.infer<typeof NetworkAttemptSchema>;

/**
 * `network` in answers: present only when the request (or its session) had
 * `network`, so every other answer stays byte for byte what onyx sends.
 */
const networkAttemptsField = z
  .array(NetworkAttemptSchema)
  .optional()
  .describe(
    "The destinations the code tried through the egress proxy, allowed or not; only when the request (or its session) had `network`",
  );

/** Limits the server applies to request fields; they come from the configuration. */
export interface RequestLimits {
  /** Largest accepted `timeout_ms`. @default MAX_EXEC_TIMEOUT_MS */
  maxExecTimeoutMs: number;
}

const timeoutField = (maxMs: number, defaultMs: number) =>
  z
    .int("timeout_ms must be an integer")
    .min(1, "timeout_ms must be at least 1")
    .max(maxMs, `timeout_ms exceeds maximum of ${maxMs} ms (MAX_EXEC_TIMEOUT_MS)`)
    .default(Math.min(defaultMs, maxMs));

/** `POST /v1/execute` and `/v1/execute/stream` request body. */
export function createExecuteRequestSchema(limits: RequestLimits) {
  return z.object({
    code: z.string(),
    stdin: z
      .string()
      .nullish()
      .transform((value) => value ?? null),
    timeout_ms: timeoutField(limits.maxExecTimeoutMs, 2000),
    last_line_interactive: z.boolean().default(true),
    files: z.array(FileInputSchema).default([]),
    /** `python` (default), `bash` or `javascript` (Node.js). */
    language: languageField,
    /** The sandbox runtime; the server's SANDBOX_RUNTIME when left out. */
    runtime: runtimeField,
    /** Its way out; left out, no network. */
    network: networkField,
    /** Secrets the proxy adds as headers (needs `network`). */
    secrets: secretsField,
  });
}
export type ExecuteRequest = z.infer<ReturnType<typeof createExecuteRequestSchema>>;

/** What running code answers: in a session, and (with `files`) in one-shot executions. */
export const SessionCommandResponseSchema = z.object({
  stdout: z.string(),
  stderr: z.string(),
  exit_code: z.int().nullable(),
  timed_out: z.boolean(),
  duration_ms: z.int(),
});
export type SessionCommandResponse = z.infer<typeof SessionCommandResponseSchema>;

/** `POST /v1/sessions/{id}/bash` response body: also `network`, when the session has one. */
export const SessionBashResponseSchema = SessionCommandResponseSchema.extend({ network: networkAttemptsField });
export type SessionBashResponse = z.infer<typeof SessionBashResponseSchema>;

/** `POST /v1/sessions/{id}/python` response body: also the figures the code made, as stored files. */
export const SessionPythonResponseSchema = SessionCommandResponseSchema.extend({
  files: z.array(WorkspaceFileSchema),
  skipped_files: skippedFilesField,
  ...richFields,
  /** The number of this cell in the session's Python kernel, counting from 1 (null where there is no kernel, or for bash and JavaScript). */
  execution_count: z.int().nullable().describe("This cell's number in the session's Python kernel, counting from 1"),
  network: networkAttemptsField,
});
export type SessionPythonResponse = z.infer<typeof SessionPythonResponseSchema>;

/** `POST /v1/execute` response body. */
export const ExecuteResponseSchema = SessionCommandResponseSchema.extend({
  files: z.array(WorkspaceFileSchema),
  skipped_files: skippedFilesField,
  ...richFields,
  network: networkAttemptsField,
});
export type ExecuteResponse = z.infer<typeof ExecuteResponseSchema>;

/** Server-sent events of `POST /v1/execute/stream`. */
export const StreamOutputEventSchema = z.object({
  stream: z.enum(["stdout", "stderr"]),
  data: z.string(),
});
export type StreamOutputEvent = z.infer<typeof StreamOutputEventSchema>;
export const StreamResultEventSchema = ExecuteResponseSchema.omit({ stdout: true, stderr: true });
/** `display` events: one per rich result, as soon as the code shows it, before `result`. */
export const StreamDisplayEventSchema = RichResultSchema;
export type StreamDisplayEvent = z.infer<typeof StreamDisplayEventSchema>;
export type StreamResultEvent = z.infer<typeof StreamResultEventSchema>;
export const StreamErrorEventSchema = z.object({ message: z.string() });
export type StreamErrorEvent = z.infer<typeof StreamErrorEventSchema>;

/** `202` of a route run with `background: true`. */
export const BackgroundAcceptedSchema = z.object({
  execution_id: z.string().describe("`exec-<uuid>`"),
  status_url: z.string().describe("`/v1/executions/{execution_id}`"),
});
export type BackgroundAccepted = z.infer<typeof BackgroundAcceptedSchema>;

/** `GET /v1/executions/{execution_id}`. */
export const ExecutionResponseSchema = z.object({
  execution_id: z.string(),
  status: z.enum(["running", "completed", "failed", "cancelled"]),
  kind: z.enum(["execute", "session_bash", "session_python"]),
  session_id: z.string().optional(),
  created_at: z.int().describe("Unix seconds"),
  finished_at: z.int().optional().describe("Unix seconds"),
  result: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      "When completed: the answer the foreground route gives (ExecuteResponse, SessionCommandResponse or SessionPythonResponse); a timeout is completed with `timed_out: true`",
    ),
  error: z.object({ detail: z.string() }).optional().describe("When failed or cancelled: why"),
});
export type ExecutionResponse = z.infer<typeof ExecutionResponseSchema>;

/** `POST /v1/files` response body. */
export const FileUploadResponseSchema = z.object({
  file_id: z.string(),
  filename: z.string(),
  size_bytes: z.int(),
});
export type FileUploadResponse = z.infer<typeof FileUploadResponseSchema>;

/** One entry of `GET /v1/files`; `upload_time` is ISO 8601. */
export const FileMetadataSchema = FileUploadResponseSchema.extend({
  upload_time: z.string(),
});
export type FileMetadata = z.infer<typeof FileMetadataSchema>;
export const FileListResponseSchema = z.object({ files: z.array(FileMetadataSchema) });
export type FileListResponse = z.infer<typeof FileListResponseSchema>;

/** `POST /v1/sessions` request body. */
export const SessionCreateRequestSchema = z.object({
  ttl_seconds: z.int("ttl_seconds must be an integer").min(1, "ttl_seconds must be at least 1").optional(),
  files: z.array(FileInputSchema).default([]),
  /** Checked at creation (422 when the backend lacks it); each `/python` call names its own. */
  language: languageEnum.optional(),
  /** The runtime the session's sandbox runs on, for its whole life; the server's SANDBOX_RUNTIME when left out. */
  runtime: runtimeField,
  /** The session's way out, for its whole life (PUT /v1/sessions/{id}/network replaces it); left out, no network. */
  network: networkField,
  secrets: secretsField,
  /** What happens when its TTL runs out (issue 23): `delete` (today's behaviour) or `pause` (its snapshot kept for SESSION_SNAPSHOT_TTL_SECONDS). */
  on_expire: z
    .enum(["delete", "pause"], 'on_expire must be "delete" or "pause"')
    .optional()
    .describe("`delete` (default) or `pause`: a session whose TTL runs out is paused (snapshot kept) instead of deleted"),
});
export type SessionCreateRequest = z.infer<typeof SessionCreateRequestSchema>;

/** `POST /v1/sessions` and keepalive response body; `expires_at` is unix seconds. */
export const SessionResponseSchema = z.object({
  session_id: z.string(),
  expires_at: z.int(),
});
export type SessionResponse = z.infer<typeof SessionResponseSchema>;

/** What a pause kept (issue 23). */
export const SessionSnapshotSchema = z.object({
  bytes: z.int().describe("Size of the stored snapshot, in bytes"),
  memory: z
    .boolean()
    .describe("Whether the kernel's memory (its variables) was kept; false: the workspace only, and a resume starts a fresh kernel"),
  created_at: z.int().describe("When the snapshot was taken, unix seconds"),
});
export type SessionSnapshotJson = z.infer<typeof SessionSnapshotSchema>;

/** A session's state: `paused` sessions have no sandbox, only their snapshot; a command resumes them. */
const sessionStateField = z
  .enum(["running", "paused"])
  .describe("`running`, or `paused` (no sandbox, its snapshot kept; a command resumes it)");

/** A session as `GET /v1/sessions` and `GET /v1/sessions/{id}` show it: also the runtime it runs on (extensions). */
export const SessionDetailSchema = SessionResponseSchema.extend({
  runtime: z.enum(SANDBOX_RUNTIMES).describe("The sandbox runtime the session runs on"),
  network: z
    .object({ allow_out: z.array(z.string()), deny_out: z.array(z.string()) })
    .optional()
    .describe("The session's network policy, when it has one"),
  state: sessionStateField,
  memory: z.boolean().describe("Whether a pause keeps (for a paused session: kept) the kernel's memory; false: the workspace only"),
  snapshot: SessionSnapshotSchema.optional().describe("A paused session's snapshot; its `expires_at` is when the snapshot goes"),
});
export type SessionDetail = z.infer<typeof SessionDetailSchema>;

/** `POST /v1/sessions/{id}/pause` response body: the sandbox is gone, its snapshot kept. */
export const SessionPauseResponseSchema = z.object({
  session_id: z.string(),
  state: z.literal("paused"),
  snapshot: SessionSnapshotSchema,
});
export type SessionPauseResponse = z.infer<typeof SessionPauseResponseSchema>;

/** `POST /v1/sessions/{id}/resume` response body. */
export const SessionResumeResponseSchema = z.object({
  session_id: z.string(),
  state: z.literal("running"),
  expires_at: z.int(),
});
export type SessionResumeResponse = z.infer<typeof SessionResumeResponseSchema>;

/** `POST /v1/sessions/{id}/resume` and `…/fork` request body (optional): the lifetime of the running session. */
export const SessionLifetimeRequestSchema = z.object({
  ttl_seconds: z
    .int("ttl_seconds must be an integer")
    .min(1, "ttl_seconds must be at least 1")
    .optional()
    .describe("Seconds it lives from now; SESSION_DEFAULT_TTL_SECONDS when left out"),
});
export type SessionLifetimeRequest = z.infer<typeof SessionLifetimeRequestSchema>;

/** `GET /v1/sessions` response body (an extension). */
export const SessionListResponseSchema = z.object({ sessions: z.array(SessionDetailSchema) });
export type SessionListResponse = z.infer<typeof SessionListResponseSchema>;

/** `PUT /v1/sessions/{id}/network` request body: the session's new policy (connections it forbids are closed). */
export const SessionNetworkRequestSchema = NetworkPolicySchema.describe("The session's new network policy");
export type SessionNetworkRequest = z.infer<typeof SessionNetworkRequestSchema>;

/** `POST /v1/sessions/{id}/keepalive` request body. */
export const SessionKeepaliveRequestSchema = z.object({
  ttl_seconds: z.int("ttl_seconds must be an integer").min(1, "ttl_seconds must be at least 1").optional(),
});
export type SessionKeepaliveRequest = z.infer<typeof SessionKeepaliveRequestSchema>;

/** `POST /v1/sessions/{id}/bash` request body. */
export function createSessionBashRequestSchema(limits: RequestLimits) {
  return z.object({
    cmd: z.string(),
    timeout_ms: timeoutField(limits.maxExecTimeoutMs, 30_000),
  });
}
export type SessionBashRequest = z.infer<ReturnType<typeof createSessionBashRequestSchema>>;

/** `POST /v1/sessions/{id}/python` request body (the later onyx route): execute's, without files. */
export function createSessionPythonRequestSchema(limits: RequestLimits) {
  return createExecuteRequestSchema(limits)
    .omit({ files: true, runtime: true, network: true, secrets: true })
    .extend({
      timeout_ms: timeoutField(limits.maxExecTimeoutMs, 30_000),
    });
}
export type SessionPythonRequest = z.infer<ReturnType<typeof createSessionPythonRequestSchema>>;

/** `GET /health` response body. */
export const HealthResponseSchema = z.object({
  status: z.literal("ok"),
  version: z.string(),
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

/** `GET /v1/capabilities`: what this server offers, so a client can choose before it asks (an extension; `/health` stays onyx's). */
export const CapabilitiesResponseSchema = z.object({
  version: z.string().describe("The server's version (as /health)"),
  backend: z.string().describe("The backend kind sandboxes run on: local, docker or kubernetes"),
  runtimes: z.array(z.enum(SANDBOX_RUNTIMES)).describe("The sandbox runtimes a request may ask for (`runtime`), SANDBOX_RUNTIMES"),
  default_runtime: z.enum(SANDBOX_RUNTIMES).describe("The runtime of a request that names none, SANDBOX_RUNTIME"),
  languages: z.array(z.enum(LANGUAGES)).describe("The languages code may be written in (`language`)"),
  sessions: z.boolean().describe("Whether sessions (POST /v1/sessions) are available"),
  stateful_python: z.boolean().describe("Whether a session's Python keeps its variables between calls (a kernel per session)"),
  features: z
    .object({
      background_executions: z.boolean().describe("`background: true` and GET /v1/executions/{execution_id}"),
      idempotency_keys: z.boolean().describe("`Idempotency-Key` on the POST routes that run code or create sessions"),
      resumable_streams: z.boolean().describe("Streams carry event ids; Last-Event-ID resumes them"),
      rich_results: z.boolean().describe("`results` and `error` in answers, `display` events in streams"),
      session_files: z.boolean().describe("GET /v1/sessions/{session_id}/files and …/files/{path}"),
      mcp: z.boolean().describe("MCP over streamable HTTP at /mcp"),
    })
    .describe("Optional features beyond the onyx API"),
  network: z
    .object({
      offered: z
        .boolean()
        .describe("Whether requests may carry `network` (EGRESS_ALLOW not none, and a backend that can bind the proxy in)"),
      secrets: z.array(z.string()).describe("Names of the secrets a request may name in `secrets` (never their values)"),
    })
    .describe("Network egress through the server's proxy"),
  memory_snapshots: z
    .array(z.enum(SANDBOX_RUNTIMES))
    .describe(
      "The runtimes whose sessions keep their processes (the Python kernel's variables) when paused, resumed or forked; on the others a snapshot keeps the workspace, and the kernel starts fresh",
    ),
  file_store: z.enum(["dir", "s3"]).describe("Where files are kept: a directory (one replica) or an S3 bucket (shared by replicas)"),
  limits: z
    .object({
      max_exec_timeout_ms: z.int().describe("Largest `timeout_ms` (MAX_EXEC_TIMEOUT_MS)"),
      max_background_timeout_ms: z.int().describe("Largest `timeout_ms` with `background: true` (MAX_BACKGROUND_TIMEOUT_MS)"),
      max_file_size_mb: z.int().describe("Largest upload (MAX_FILE_SIZE_MB)"),
      session_max_lifetime_seconds: z.int().describe("Largest session TTL (SESSION_MAX_LIFETIME_SECONDS)"),
    })
    .describe("Limits a request must stay within"),
});
export type CapabilitiesResponse = z.infer<typeof CapabilitiesResponseSchema>;

/** Every error answer: a message a person can act on. */
export const ErrorResponseSchema = z.object({ detail: z.string() });
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;
