import { PassThrough, type Readable, Writable } from "node:stream";
import {
  encodeRunnerRequest,
  type OutputChunk,
  type RunnerOutcome,
  type RunnerRequest,
  RunnerResponseDecoder,
} from "@code-interpreter/core";
import type { V1Status } from "@kubernetes/client-node";
import type { StreamSocket } from "./kube-api.js";
import { bootstrapPreamble } from "./runner-bootstrap.js";

/** Time past the code's own timeout before the server gives up on the runner. */
export const BACKSTOP_MS = 10_000;
const MAX_DIAGNOSTIC_BYTES = 64 * 1024;
/** After stopping a sandbox, how long its socket may take to close before it is cut. */
const CLOSE_GRACE_MS = 5000;

/** The streams handed to exec or attach. */
export interface RunnerStreams {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
}

export interface RunnerSocketOptions {
  /** Opens the exec or attach WebSocket with these streams; `onStatus` receives channel 3. */
  open: (streams: RunnerStreams, onStatus: (status: V1Status) => void) => Promise<StreamSocket>;
  request: RunnerRequest;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
  maxSnapshotBytes?: number;
  /** Stops the sandbox: deletes a one-shot pod; nothing for an exec, whose socket is closed (the runner's own timeout ends the command). */
  stop: () => Promise<void>;
}

/** How the conversation ended (core's RunnerOutcome). */
export type RunnerSocketOutcome = RunnerOutcome;

/**
 * Sends the runner's source and one request to the bootstrap over an exec or attach WebSocket and reads
 * its framed answer from stdout as it arrives, until the socket closes — so
 * every byte of output is read before the status is looked at. (`Exec.exec`
 * resolves when the socket opens, long before the command ends.)
 *
 * Stdin is never ended: on the v4 protocol the client ends stdin by closing
 * the whole socket, and the runner needs no end of input anyway (its header
 * says how many bytes follow).
 */
export async function talkToRunner(options: RunnerSocketOptions): Promise<RunnerSocketOutcome> {
  const { request } = options;
  const decoder = new RunnerResponseDecoder(request.maxOutputBytes, options.onOutput);
  const diagnostics: Buffer[] = [];
  let diagnosticBytes = 0;
  let failure: V1Status | undefined;
  let stopped: RunnerSocketOutcome["stopped"];
  let socket: StreamSocket | undefined;
  const stdin = new PassThrough();
  const streams: RunnerStreams = {
    stdin,
    stdout: sink((chunk) => decoder.push(chunk)),
    stderr: sink((chunk) => {
      if (diagnosticBytes < MAX_DIAGNOSTIC_BYTES) diagnostics.push(chunk);
      diagnosticBytes += chunk.length;
    }),
  };
  // Past the backstop or on abort nobody waits for more output: stop the sandbox and hang up.
  const stop = (why: "backstop" | "abort") => {
    stopped ??= why;
    options.stop().catch(() => {});
    socket?.close();
    setTimeout(() => socket?.terminate(), CLOSE_GRACE_MS).unref();
  };
  const onAbort = () => stop("abort");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const backstop = setTimeout(() => stop("backstop"), (request.timeoutMs ?? 0) + BACKSTOP_MS);
  try {
    options.signal?.throwIfAborted();
    socket = await options.open(streams, (status) => {
      if (status.status !== "Success") failure = status;
    });
    const open = socket;
    if (stopped) open.close();
    const closed = new Promise<void>((resolve) => {
      if (open.readyState === open.CLOSED) resolve();
      open.once("close", () => resolve());
      // A broken connection ends the conversation like a closed one: the runner's answer decides.
      open.once("error", () => resolve());
    });
    stdin.write(Buffer.concat([bootstrapPreamble(), await encodeRunnerRequest(request)]));
    await closed;
  } finally {
    clearTimeout(backstop);
    options.signal?.removeEventListener("abort", onAbort);
    stdin.destroy();
    socket?.terminate();
  }
  const status = failure && failure.reason !== "NonZeroExitCode" ? `${failure.reason ?? "Failure"}: ${failure.message ?? ""}` : "";
  return {
    result: stopped === "abort" ? undefined : await decoder.finish({ maxBytes: options.maxSnapshotBytes }),
    stopped,
    partial: decoder.partialOutput(),
    diagnostics: [Buffer.concat(diagnostics).toString("utf8").trim(), status].filter(Boolean).join("; "),
  };
}

function sink(take: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      take(chunk);
      callback();
    },
  });
}
