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

/** Opens the exec or attach WebSocket with these streams; `onStatus` receives channel 3. */
export type OpenRunnerStreams = (streams: RunnerStreams, onStatus: (status: V1Status) => void) => Promise<StreamSocket>;

/** One conversation with a connected runner. */
export interface RunnerTalkOptions {
  request: RunnerRequest;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
  maxSnapshotBytes?: number;
  /** Stops the sandbox: deletes a one-shot pod; nothing for an exec, whose socket is closed (the runner's own timeout ends the command). */
  stop: () => Promise<void>;
}

export interface RunnerSocketOptions extends RunnerTalkOptions {
  open: OpenRunnerStreams;
}

/** How the conversation ended (core's RunnerOutcome). */
export type RunnerSocketOutcome = RunnerOutcome;

/**
 * An exec or attach WebSocket to a bootstrapped runner that has been sent
 * its source and waits for one request: a warm pod holds one from its start
 * until it is used, so the runner can load (and preload modules) meanwhile.
 *
 * Stdin is never ended: on the v4 protocol the client ends stdin by closing
 * the whole socket, and the runner needs no end of input anyway (its header
 * says how many bytes follow).
 */
export class RunnerConnection {
  private readonly stdin = new PassThrough();
  /** Output that came before a conversation (none is expected), then the conversation's decoder. */
  private early: Buffer[] | undefined = [];
  private onStdout: (chunk: Buffer) => void = (chunk) => this.early?.push(chunk);
  private readonly diagnostics: Buffer[] = [];
  private diagnosticBytes = 0;
  private failure: V1Status | undefined;
  private ended = false;
  private socket!: StreamSocket;
  private closed!: Promise<void>;

  private constructor() {}

  /** Opens the socket and sends the runner's source. */
  static async open(open: OpenRunnerStreams): Promise<RunnerConnection> {
    const connection = new RunnerConnection();
    const streams: RunnerStreams = {
      stdin: connection.stdin,
      stdout: sink((chunk) => connection.onStdout(chunk)),
      stderr: sink((chunk) => {
        if (connection.diagnosticBytes < MAX_DIAGNOSTIC_BYTES) connection.diagnostics.push(chunk);
        connection.diagnosticBytes += chunk.length;
      }),
    };
    const socket = await open(streams, (status) => {
      if (status.status !== "Success") connection.failure = status;
    });
    connection.socket = socket;
    connection.closed = new Promise<void>((resolve) => {
      const end = () => {
        connection.ended = true;
        resolve();
      };
      if (socket.readyState === socket.CLOSED) end();
      socket.once("close", end);
      // A broken connection ends the conversation like a closed one: the runner's answer decides.
      socket.once("error", end);
    });
    connection.stdin.write(bootstrapPreamble());
    return connection;
  }

  /** True once the socket has closed: the runner is gone, or never got going. */
  get isClosed(): boolean {
    return this.ended;
  }

  /**
   * Sends one request and reads the framed answer from stdout as it arrives,
   * until the socket closes — so every byte of output is read before the
   * status is looked at. (`Exec.exec` resolves when the socket opens, long
   * before the command ends.) The connection is used up afterwards.
   */
  async talk(options: RunnerTalkOptions): Promise<RunnerSocketOutcome> {
    const { request } = options;
    const decoder = new RunnerResponseDecoder(request.maxOutputBytes, options.onOutput);
    const early = this.early ?? [];
    this.early = undefined;
    this.onStdout = (chunk) => decoder.push(chunk);
    for (const chunk of early) decoder.push(chunk);
    let stopped: RunnerSocketOutcome["stopped"];
    // Past the backstop or on abort nobody waits for more output: stop the sandbox and hang up.
    const stop = (why: "backstop" | "abort") => {
      stopped ??= why;
      options.stop().catch(() => {});
      this.socket.close();
      setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
    };
    const onAbort = () => stop("abort");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const backstop = setTimeout(() => stop("backstop"), (request.timeoutMs ?? 0) + BACKSTOP_MS);
    try {
      options.signal?.throwIfAborted();
      this.stdin.write(await encodeRunnerRequest(request));
      await this.closed;
    } finally {
      clearTimeout(backstop);
      options.signal?.removeEventListener("abort", onAbort);
      this.close();
    }
    const failure = this.failure;
    const status = failure && failure.reason !== "NonZeroExitCode" ? `${failure.reason ?? "Failure"}: ${failure.message ?? ""}` : "";
    return {
      result: stopped === "abort" ? undefined : await decoder.finish({ maxBytes: options.maxSnapshotBytes }),
      stopped,
      partial: decoder.partialOutput(),
      diagnostics: [Buffer.concat(this.diagnostics).toString("utf8").trim(), status].filter(Boolean).join("; "),
    };
  }

  /** Hangs up at once; a runner still waiting for its request sees the end of its input and exits. */
  close(): void {
    this.stdin.destroy();
    this.socket.terminate();
  }
}

/** Opens a runner's socket and has one conversation with it. */
export async function talkToRunner(options: RunnerSocketOptions): Promise<RunnerSocketOutcome> {
  options.signal?.throwIfAborted();
  const connection = await RunnerConnection.open(options.open);
  return connection.talk(options);
}

function sink(take: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      take(chunk);
      callback();
    },
  });
}
