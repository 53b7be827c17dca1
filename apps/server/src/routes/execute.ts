import { createExecuteRequestSchema, type ExecuteOptions } from "@code-interpreter/core";
import { resolveFileInputs } from "@code-interpreter/files";
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

  return new Hono<Env>()
    .post("/v1/execute", async (c) => {
      const options = await prepare(c);
      const result = await withExecutionSlot(server, c, () => server.backend.execute({ ...options, signal: c.req.raw.signal }));
      return c.json(await executionJson(server, c, result));
    })
    .post("/v1/execute/stream", async (c) => {
      // Everything that can be refused is refused before the stream starts, with a status code.
      const options = await prepare(c);
      const rich = richResultMapper(server, c);
      return streamExecution(
        c,
        server,
        async (onOutput, signal) => executionJson(server, c, await server.backend.execute({ ...options, onOutput, signal }), rich),
        rich.one,
      );
    });
}
