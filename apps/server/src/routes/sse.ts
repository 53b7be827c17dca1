import type { OutputCallbacks, RichResult } from "@code-interpreter/core";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { acquireExecutionSlot } from "../execution-slots.js";
import { reportError } from "../middleware/error-handler.js";

/**
 * Answers with server-sent events: `output` chunks while `run` works, a
 * `display` event per rich result as soon as it is shown (its JSON from
 * `displayJson`), then one `result` (the answer `run` returns, less the
 * `stdout` and `stderr` already streamed) or one `error`. A client that goes away aborts
 * the signal, which stops the execution and removes its sandbox. The
 * execution holds a concurrency slot until the stream ends.
 */
export function streamExecution(
  c: Context<Env>,
  server: ServerContext,
  run: (callbacks: OutputCallbacks, signal: AbortSignal) => Promise<{ stdout: string; stderr: string }>,
  displayJson?: (result: RichResult) => Promise<object>,
): Response {
  const release = acquireExecutionSlot(server, c);
  c.header("Cache-Control", "no-cache");
  c.header("X-Accel-Buffering", "no");
  return streamSSE(c, async (stream) => {
    const controller = new AbortController();
    stream.onAbort(() => controller.abort(new Error("client disconnected")));
    // Events go out in order even though output arrives from a synchronous callback.
    let pending = Promise.resolve();
    const send = (event: string, data: unknown) => {
      pending = pending.then(async () => {
        const value = await data;
        if (!stream.aborted) await stream.writeSSE({ event, data: JSON.stringify(value) });
      });
      return pending;
    };
    const callbacks: OutputCallbacks = {
      onStdout: (data) => void send("output", { stream: "stdout", data }),
      onStderr: (data) => void send("output", { stream: "stderr", data }),
      onResult: (result) => void send("display", displayJson ? displayJson(result) : result),
    };
    try {
      const { stdout: _stdout, stderr: _stderr, ...result } = await run(callbacks, controller.signal);
      await send("result", result);
    } catch (error) {
      if (controller.signal.aborted) return;
      // The same message (and log line) an answer would carry: only errors we throw on purpose show theirs.
      await send("error", { message: reportError(server.logger, c, error).detail });
    } finally {
      release();
    }
  });
}
