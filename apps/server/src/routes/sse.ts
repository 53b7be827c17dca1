import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Env } from "../env.js";
import type { ExecutionEvent } from "../executions/execution-records.js";

/**
 * Answers with server-sent events: each of `events` (`output`, `display`,
 * then one `result` or `error`) with its `id:` line, so a client that loses
 * the connection can resume with Last-Event-ID. `events` gets a signal that
 * aborts when the client goes away; `onClientGone` runs then too.
 */
export function streamEvents(
  c: Context<Env>,
  events: (signal: AbortSignal) => AsyncIterable<ExecutionEvent> | Promise<AsyncIterable<ExecutionEvent>>,
  onClientGone?: () => void,
): Response {
  c.header("Cache-Control", "no-cache");
  c.header("X-Accel-Buffering", "no");
  return streamSSE(c, async (stream) => {
    const controller = new AbortController();
    stream.onAbort(() => {
      controller.abort(new Error("client disconnected"));
      onClientGone?.();
    });
    for await (const event of await events(controller.signal)) {
      if (stream.aborted) break;
      await stream.writeSSE({ id: String(event.id), event: event.event, data: JSON.stringify(event.data) });
    }
  });
}
