import { createExecuteRequestSchema, type ExecuteOptions, type ExecutionResult } from "@code-interpreter/core";
import { OutputSaver, resolveFileInputs } from "@code-interpreter/files";
import { type Context, Hono } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { withExecutionSlot } from "../execution-slots.js";
import { readJsonBody } from "../middleware/json-body.js";
import { assertLanguage } from "./languages.js";
import { codeOptions, executionJson } from "./mappers.js";
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
    return { ...codeOptions(body), files: await resolveFileInputs(server.store, body.files, accessOf(c).view) };
  };

  /**
   * Runs it with its outputs stored as the snapshot arrives, one file at a
   * time (a large snapshot is never held whole); if it fails or is abandoned,
   * none of them is kept.
   */
  const execute = async (options: ExecuteOptions, outputs: OutputSaver): Promise<ExecutionResult> => {
    try {
      return await server.backend.execute({ ...options, onFile: outputs.save });
    } catch (error) {
      await outputs.discard();
      throw error;
    }
  };
  const saver = (c: Context<Env>) => new OutputSaver(server.store, accessOf(c).owner);

  return new Hono<Env>()
    .post("/v1/execute", async (c) => {
      const options = await prepare(c);
      const outputs = saver(c);
      const result = await withExecutionSlot(server, c, () => execute({ ...options, signal: c.req.raw.signal }, outputs));
      return c.json(await executionJson(server, c, result, undefined, outputs));
    })
    .post("/v1/execute/stream", async (c) => {
      // Everything that can be refused is refused before the stream starts, with a status code.
      const options = await prepare(c);
      const rich = richResultMapper(server, c);
      const outputs = saver(c);
      return streamExecution(
        c,
        server,
        async (callbacks, signal) => executionJson(server, c, await execute({ ...options, ...callbacks, signal }, outputs), rich, outputs),
        rich.one,
      );
    });
}
