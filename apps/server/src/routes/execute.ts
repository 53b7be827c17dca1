import { createExecuteRequestSchema, type ExecuteOptions, type ExecuteResponse, type ExecutionResult } from "@code-interpreter/core";
import { resolveFileInputs } from "@code-interpreter/files";
import { type Context, Hono } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { withExecutionSlot } from "../execution-slots.js";
import { readJsonBody } from "../middleware/json-body.js";
import { assertLanguage } from "./languages.js";
import { saveResultFiles } from "./result-files.js";
import { richResultMapper } from "./rich-results.js";
import { streamExecution } from "./sse.js";

/** `POST /v1/execute` and `POST /v1/execute/stream`. */
export function executeRoutes(server: ServerContext) {
  const schema = createExecuteRequestSchema({ maxExecTimeoutMs: server.config.MAX_EXEC_TIMEOUT_MS });
  const maxBody = server.config.MAX_REQUEST_BODY_MB * 1024 * 1024;

  /** The request as the backend takes it, everything refusable refused first (422, 404). */
  const prepare = async (c: Context<Env>): Promise<ExecuteOptions> => {
    const body = await readJsonBody(c, schema, maxBody);
    assertLanguage(server, body.language);
    return {
      code: body.code,
      language: body.language,
      stdin: body.stdin,
      timeoutMs: body.timeout_ms,
      lastLineInteractive: body.last_line_interactive,
      files: await resolveFileInputs(server.store, body.files, accessOf(c).view),
    };
  };

  const toResponse = async (c: Context<Env>, result: ExecutionResult, rich = richResultMapper(server, c)): Promise<ExecuteResponse> => ({
    stdout: result.stdout,
    stderr: result.stderr,
    exit_code: result.exitCode,
    timed_out: result.timedOut,
    duration_ms: result.durationMs,
    ...(await saveResultFiles(server, c, result)),
    ...(await rich.fields(result)),
  });

  return new Hono<Env>()
    .post("/v1/execute", async (c) => {
      const options = await prepare(c);
      const result = await withExecutionSlot(server, c, () => server.backend.execute({ ...options, signal: c.req.raw.signal }));
      return c.json(await toResponse(c, result));
    })
    .post("/v1/execute/stream", async (c) => {
      // Everything that can be refused is refused before the stream starts, with a status code.
      const options = await prepare(c);
      const rich = richResultMapper(server, c);
      return streamExecution(
        c,
        server,
        async (onOutput, signal) => toResponse(c, await server.backend.execute({ ...options, onOutput, signal }), rich),
        rich.one,
      );
    });
}
