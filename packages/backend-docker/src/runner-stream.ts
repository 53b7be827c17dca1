import type { Duplex } from "node:stream";
import { Writable } from "node:stream";
import {
  encodeRunnerRequest,
  type OutputChunk,
  type RunnerOutcome,
  type RunnerRequest,
  RunnerResponseDecoder,
} from "@code-interpreter/core";
import type Dockerode from "dockerode";

/** Time past the code's own timeout before the server gives up on the runner. */
export const BACKSTOP_MS = 10_000;
const MAX_DIAGNOSTIC_BYTES = 64 * 1024;
/** After stopping a sandbox, how long its stream may take to close before it is cut. */
const CLOSE_GRACE_MS = 5000;

export interface RunnerStreamOptions {
  docker: Dockerode;
  /** The hijacked attach or exec stream, multiplexed (Tty false). */
  stream: Duplex;
  request: RunnerRequest;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
  maxSnapshotBytes?: number;
  /** Stops the sandbox (kills the container, or cuts an exec's stream). */
  stop: () => Promise<void>;
}

/** How the conversation ended (core's RunnerOutcome). */
export type RunnerStreamOutcome = RunnerOutcome;

/**
 * Sends one request to the runner over an attached stream and reads its framed
 * answer until the stream ends, so every byte of output is read before anyone
 * asks for an exit code. A backstop timer and the abort signal stop the sandbox.
 */
export async function talkToRunner(options: RunnerStreamOptions): Promise<RunnerStreamOutcome> {
  const { stream, request } = options;
  const decoder = new RunnerResponseDecoder(request.maxOutputBytes, options.onOutput);
  const diagnostics: Buffer[] = [];
  let diagnosticBytes = 0;
  let stopped: RunnerStreamOutcome["stopped"];

  let answered = () => {};
  const ended = new Promise<void>((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    // A broken connection ends the conversation like a closed one: the runner's answer decides.
    stream.once("error", () => resolve());
    // The result frame is always the last: no need to wait for the container to exit.
    answered = resolve;
    // Already over (its engine went away before we spoke): those events will not come again.
    if (stream.destroyed || stream.readableEnded) resolve();
  });
  options.docker.modem.demuxStream(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        decoder.push(chunk);
        if (decoder.done) answered();
        callback();
      },
    }),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (diagnosticBytes < MAX_DIAGNOSTIC_BYTES) diagnostics.push(chunk);
        diagnosticBytes += chunk.length;
        callback();
      },
    }),
  );

  const stop = (why: "backstop" | "abort") => {
    stopped ??= why;
    options.stop().catch(() => {});
    // Past the grace the conversation is over, even when the stream cannot report its own end.
    setTimeout(() => {
      stream.destroy();
      answered();
    }, CLOSE_GRACE_MS).unref();
  };
  const onAbort = () => stop("abort");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const backstop = setTimeout(() => stop("backstop"), (request.timeoutMs ?? 0) + BACKSTOP_MS);
  try {
    if (options.signal?.aborted) onAbort();
    // No half-close: the runner's stdin stays open until the answer, and the engine closes it when
    // this connection drops (StdinOnce), which tells the runner its server is gone.
    stream.write(await encodeRunnerRequest(request));
    await ended;
  } finally {
    clearTimeout(backstop);
    options.signal?.removeEventListener("abort", onAbort);
    stream.destroy();
  }
  return {
    result: stopped === "abort" ? undefined : await decoder.finish({ maxBytes: options.maxSnapshotBytes }),
    stopped,
    partial: decoder.partialOutput(),
    diagnostics: Buffer.concat(diagnostics).toString("utf8").trim(),
  };
}
