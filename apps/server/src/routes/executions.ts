import { InvalidRequestError } from "@code-interpreter/core";
import { Hono } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { streamEvents } from "./sse.js";

/** `/v1/executions/{execution_id}`: status and answer, cancel or forget, and the event stream (resumable). */
export function executionRoutes(server: ServerContext) {
  return new Hono<Env>()
    .get("/v1/executions/:executionId", async (c) => c.json(await server.executions.get(c.req.param("executionId"), accessOf(c).view)))
    .delete("/v1/executions/:executionId", async (c) => {
      await server.executions.delete(c.req.param("executionId"), accessOf(c).view);
      return c.body(null, 204);
    })
    .get("/v1/executions/:executionId/stream", async (c) => {
      const header = c.req.header("last-event-id")?.trim();
      if (header !== undefined && header !== "" && !/^\d{1,15}$/.test(header)) {
        throw new InvalidRequestError({
          message: `Last-Event-ID must be an event id this stream sent (a whole number), not ${JSON.stringify(header)}`,
        });
      }
      const after = header ? Number(header) : 0;
      const executionId = c.req.param("executionId");
      // Looked up before the stream starts: an unknown or another tenant's execution is a 404, not an empty stream.
      const { view } = accessOf(c);
      await server.executions.get(executionId, view);
      c.header("X-Execution-Id", executionId);
      return streamEvents(c, (signal) => server.executions.follow(executionId, view, after, signal));
    });
}
