import { createExecuteRequestSchema, type ExecuteOptions, InvalidRequestError } from "@code-interpreter/core";
import { OutputSaver, resolveFileInputs } from "@code-interpreter/files";
import { type Context, Hono } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { readJsonBody } from "../middleware/json-body.js";
import { assertLanguage } from "./languages.js";
import { codeOptions, executionJson, networkOptions } from "./mappers.js";
import { runSchemas } from "./request-schemas.js";
import { richResultMapper } from "./rich-results.js";
import { answerCode, type RunnableCode, streamCode } from "./run-modes.js";
import { requestedRuntime } from "./runtimes.js";

/** A stream is the foreground: a background execution is streamed from its own resource. */
export const BACKGROUND_STREAM =
  "background: a stream cannot run in the background; POST it without /stream and follow GET /v1/executions/{execution_id}/stream";

/** `POST /v1/execute` and `POST /v1/execute/stream`. */
export function executeRoutes(server: ServerContext) {
  const schema = runSchemas(server.config, createExecuteRequestSchema, 2000);
  const maxBody = server.config.MAX_REQUEST_BODY_MB * 1024 * 1024;

  /** The request as the backend takes it, everything refusable refused first (422, 404). */
  const prepare = async (c: Context<Env>): Promise<{ code: RunnableCode; background: boolean }> => {
    const body = await readJsonBody(c, schema, maxBody);
    assertLanguage(server, body.language);
    const runtime = requestedRuntime(server, body.runtime);
    const { owner, view } = accessOf(c);
    const options: ExecuteOptions = {
      ...codeOptions(body),
      runtime,
      files: await resolveFileInputs(server.store, body.files, view),
      ...networkOptions(body),
      ...(owner.tenant === undefined ? {} : { tenant: owner.tenant }),
    };
    const rich = richResultMapper(server, c);
    return {
      background: body.background,
      code: {
        kind: "execute",
        timeoutMs: body.timeout_ms,
        displayJson: rich.one,
        // Outputs are stored as the snapshot arrives, one file at a time (a large snapshot is never held
        // whole); if the execution fails or is abandoned, none of them is kept.
        run: async (callbacks, signal) => {
          const outputs = new OutputSaver(server.store, owner);
          try {
            const result = await server.backend.execute({
              ...options,
              ...callbacks,
              ...(signal ? { signal } : {}),
              onFile: outputs.save,
            });
            return executionJson(result, await outputs.finish(result.files ?? [], result.skippedFiles), await rich.fields(result));
          } catch (error) {
            await outputs.discard();
            throw error;
          }
        },
      },
    };
  };

  return new Hono<Env>()
    .post("/v1/execute", async (c) => {
      const { code, background } = await prepare(c);
      return answerCode(c, server, code, background);
    })
    .post("/v1/execute/stream", async (c) => {
      // Everything that can be refused is refused before the stream starts, with a status code.
      const { code, background } = await prepare(c);
      if (background) throw new InvalidRequestError({ message: BACKGROUND_STREAM });
      return streamCode(c, server, code);
    });
}
