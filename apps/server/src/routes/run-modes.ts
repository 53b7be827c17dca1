import type { OutputCallbacks, RichResult } from "@code-interpreter/core";
import type { Context } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import type { ExecutionKind } from "../executions/execution-records.js";
import { reportError } from "../middleware/error-handler.js";
import { streamEvents } from "./sse.js";

/** A route's code, ready to run in any of the ways a request may ask. */
export interface RunnableCode {
  kind: ExecutionKind;
  sessionId?: string;
  timeoutMs: number;
  /** Runs the code and resolves with the route's whole answer; output goes to `callbacks` when they are given. */
  run(callbacks: OutputCallbacks | undefined, signal: AbortSignal | undefined): Promise<{ stdout?: string; stderr?: string } & object>;
  /** `display` events' JSON. */
  displayJson?: (result: RichResult) => Promise<object>;
}

/** The request's abort signal, or none when the request is detached from its client (it has an Idempotency-Key). */
export function requestSignal(c: Context<Env>): AbortSignal | undefined {
  return c.get("detached") ? undefined : c.req.raw.signal;
}

/** Records and starts the request's code as an execution of its owner; `persisted` keeps it past its client. */
function startExecution(c: Context<Env>, server: ServerContext, code: RunnableCode, persisted: boolean) {
  return server.executions.start({
    ...code,
    owner: accessOf(c).owner,
    persisted,
    run: (listener, signal) => code.run(listener, signal),
    describe: (error) => reportError(server.logger, c, error).detail,
  });
}

/**
 * Answers a route's code: with `background`, 202 `{execution_id, status_url}`
 * as soon as the execution is recorded; otherwise the answer, once it has
 * run. Both hold an execution slot while the code runs (429 before anything
 * starts when none is free).
 */
export async function answerCode(c: Context<Env>, server: ServerContext, code: RunnableCode, background: boolean): Promise<Response> {
  if (background) {
    const execution = await startExecution(c, server, code, true);
    return c.json({ execution_id: execution.id, status_url: `/v1/executions/${execution.id}` }, 202);
  }
  const answer = await server.slots.run(accessOf(c).owner.tenant, () => code.run(undefined, requestSignal(c)));
  return c.json(answer);
}

/**
 * Streams a route's code as server-sent events with ids. A request with an
 * Idempotency-Key is resumable: its execution is recorded (`X-Execution-Id`),
 * outlives its client up to its own timeout, and `GET
 * /v1/executions/{id}/stream` with Last-Event-ID picks up where the client
 * left off. Without one, a client that leaves stops the execution, as it always has.
 */
export async function streamCode(c: Context<Env>, server: ServerContext, code: RunnableCode): Promise<Response> {
  const resumable = c.get("detached") === true;
  const execution = await startExecution(c, server, code, resumable);
  if (resumable) c.header("X-Execution-Id", execution.id);
  return streamEvents(
    c,
    (signal) => execution.events(0, signal),
    () => {
      if (!resumable) execution.controller.abort(new Error("client disconnected"));
    },
  );
}
