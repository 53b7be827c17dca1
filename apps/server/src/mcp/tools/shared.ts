import { NetworkPolicySchema } from "@code-interpreter/core";
import { SANDBOX_RUNTIMES } from "@code-interpreter/core/sandbox";
import { validateWorkspacePath } from "@code-interpreter/core/workspace";
import { z } from "zod";

/** The `session_id` input every session tool takes. */
export const sessionIdInput = z
  .string()
  .min(1)
  .describe("A session id from create_session (code-session-…). The session's /workspace and Python variables persist between calls.");

/** The `ttl_seconds` input of resume_session and fork_session. */
export const ttlInput = z
  .number()
  .int()
  .positive()
  .optional()
  .describe("Seconds the session then lives (capped by the server; the server's default when left out)");

/** The `timeout_ms` input of the tools that run code. */
export const timeoutInput = z
  .number()
  .int()
  .positive()
  .optional()
  .describe("Milliseconds before the code is killed (default 30000; the server refuses more than its MAX_EXEC_TIMEOUT_MS).");

/** The `background` input of the tools that run code. */
export const backgroundInput = z
  .boolean()
  .optional()
  .describe(
    "Start the run and answer at once with an execution_id; collect the result with get_execution. " +
      "For work longer than your tool-call timeout.",
  );

/** The `runtime` input of the tools that start a sandbox. */
export const runtimeInput = z
  .enum(SANDBOX_RUNTIMES)
  .optional()
  .describe(
    "The sandbox runtime: default (the host's kernel behind namespaces) or gvisor (gVisor's user-space kernel in between, slower to start). " +
      "Only those the server offers; the server's default when left out.",
  );

/** The `network` input of the tools that start a sandbox: the HTTP API's own schema (the same 422s). */
export const networkInput = NetworkPolicySchema.optional().describe(
  "Let the code reach the network through the server's egress proxy: allow_out lists domains (exact or *.example.com), IPs and CIDRs; " +
    "deny_out IPs and CIDRs that win over allow_out. HTTP(S)_PROXY, pip and npm are set up for it. Left out: no network at all. " +
    "The answer then lists what the code tried (allowed or denied, and why).",
);

/** The `secrets` input: names of secrets the server's operator configured, added by the proxy as headers the code never sees. */
export const secretsInput = z
  .array(z.string())
  .optional()
  .describe(
    "Names of secrets the server's operator configured (GET /v1/capabilities lists them); the proxy adds each as a header. Needs network.",
  );

/** Stored files to place in /workspace before code runs. */
export const stagedFilesInput = z
  .array(
    z.object({
      path: z.string().min(1).describe("Where the file lands, relative to /workspace"),
      file_id: z.string().min(1).describe("A file_id from upload_file (without session_id), list_files or an earlier run's output"),
    }),
  )
  .optional()
  .describe("Stored files to place in /workspace before the code runs.");

/** The HTTP route of a session. */
export function sessionPath(sessionId: string): string {
  return `/v1/sessions/${encodeURIComponent(sessionId)}`;
}

/** A unix time as an ISO date without milliseconds. */
export function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The path normalised as the HTTP routes do; the reason when they would refuse it. */
export function workspacePath(filePath: string): string {
  return validateWorkspacePath(filePath.replace(/^\/workspace\//, ""));
}
