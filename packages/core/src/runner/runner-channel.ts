import { Writable } from "node:stream";

/** What a preloading runner writes first once its modules are loaded. */
const READY_FRAME = Buffer.from([0x72, 0, 0, 0, 0]);

/** The runner's own stderr (not the code's, which travels framed) kept for an error message. */
const MAX_DIAGNOSTIC_BYTES = 64 * 1024;

/** How a driver reaches the runner in a sandbox: its stdin, and a way to hang up. */
export interface RunnerLine {
  /** Sends bytes to the runner's stdin. */
  write(data: Buffer): void;
  /** Drops the connection (ends the runner's stdin, closes the stream or socket); must not throw. */
  hangUp(): void;
  /**
   * Stops reading from the runner until `resume`, so that what it writes
   * waits in the connection (and then in the runner) rather than in the
   * server's memory. A line without it keeps reading.
   */
  pause?(): void;
  resume?(): void;
}

/**
 * The server's end of a connection to a runner: an attach or exec stream, a
 * WebSocket, or a child process's pipes. The driver feeds it what the runner
 * writes (`data`: the framed answer; `diagnostic`: the runner's own stderr)
 * and tells it when the connection ended; `exchange` reads from it.
 * Answer bytes that arrive with no conversation under way wait for the next.
 */
export class RunnerChannel {
  private listener: ((chunk: Buffer) => void) | undefined;
  private early: Buffer[] = [];
  /** The first bytes, until it is known whether they open with the ready frame. */
  private opening: Buffer | undefined = Buffer.alloc(0);
  private resolveReady!: () => void;
  /**
   * Resolves when a warm runner reports that its preload is done (its first
   * frame, "r" and empty), or the connection ends: a warm sandbox is handed
   * out ready, not still importing.
   */
  readonly ready = new Promise<void>((resolve) => {
    this.resolveReady = resolve;
  });
  private readonly diagnosticChunks: Buffer[] = [];
  private diagnosticBytes = 0;
  private isEnded = false;
  private resolveClosed!: () => void;
  /** Resolves once the connection has ended, for whatever reason. */
  readonly closed = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(private readonly line: RunnerLine) {}

  /** From the driver: bytes of the runner's framed answer. */
  data(chunk: Buffer): void {
    if (this.opening) {
      // A runner writes an "r" frame only first, once its preload is done: the ready signal.
      const opening = Buffer.concat([this.opening, chunk]);
      if (opening.length < READY_FRAME.length && READY_FRAME.subarray(0, opening.length).equals(opening)) {
        this.opening = opening;
        return;
      }
      this.opening = undefined;
      if (opening.subarray(0, READY_FRAME.length).equals(READY_FRAME)) {
        this.resolveReady();
        chunk = opening.subarray(READY_FRAME.length);
        if (chunk.length === 0) return;
      } else chunk = opening;
    }
    if (this.listener) this.listener(chunk);
    else this.early.push(chunk);
  }

  /** From the driver: the runner's own stderr, or the platform's reason for an end (kept up to 64 KiB). */
  diagnostic(chunk: Buffer | string): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (this.diagnosticBytes < MAX_DIAGNOSTIC_BYTES) this.diagnosticChunks.push(bytes);
    this.diagnosticBytes += bytes.length;
  }

  /** From the driver: the connection ended (closed, broken, or the process exited). Idempotent. */
  end(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.resolveClosed();
    this.resolveReady();
  }

  /** True once the connection has ended: nothing more will come, and nothing can be sent. */
  get ended(): boolean {
    return this.isEnded;
  }

  /** What the runner wrote to its own stderr, trimmed. */
  diagnostics(): string {
    return Buffer.concat(this.diagnosticChunks).toString("utf8").trim();
  }

  write(data: Buffer): void {
    this.line.write(data);
  }

  /** Routes answer bytes to `listener` (first those that came early) until the returned function is called. */
  listen(listener: (chunk: Buffer) => void): () => void {
    this.listener = listener;
    const early = this.early;
    this.early = [];
    for (const chunk of early) listener(chunk);
    return () => {
      if (this.listener === listener) this.listener = undefined;
    };
  }

  /** Reads nothing more from the runner until `resume` (where the line can hold back). */
  pause(): void {
    this.line.pause?.();
  }

  resume(): void {
    this.line.resume?.();
  }

  /** Hangs up: a runner still waiting for a request sees the end of its input and exits. */
  hangUp(): void {
    this.line.hangUp();
    this.end();
  }
}

/**
 * Writable streams that feed the channel, for clients that write what a
 * connection carries into streams (an exec's stdout and stderr, a demuxed
 * attach): `stdout` takes the runner's framed answer, `stderr` its diagnostics.
 */
export function channelWritables(channel: RunnerChannel): { stdout: Writable; stderr: Writable } {
  const sink = (take: (chunk: Buffer) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        take(chunk);
        callback();
      },
    });
  return { stdout: sink((chunk) => channel.data(chunk)), stderr: sink((chunk) => channel.diagnostic(chunk)) };
}

/** The pipes of a child process the runner runs in (directly, or inside bubblewrap) as its channel. */
export function processChannel(child: {
  stdin: NodeJS.WritableStream | null;
  stdout: NodeJS.ReadableStream | null;
  stderr: NodeJS.ReadableStream | null;
  once(event: "close", listener: () => void): unknown;
}): RunnerChannel {
  // A runner may exit before reading all of its input: that is its answer, not ours to crash on.
  child.stdin?.on("error", () => {});
  const channel = new RunnerChannel({
    write: (data) => void child.stdin?.write(data),
    hangUp: () => void child.stdin?.end(),
    pause: () => void child.stdout?.pause(),
    resume: () => void child.stdout?.resume(),
  });
  child.stdout?.on("data", (chunk: Buffer) => channel.data(chunk));
  child.stderr?.on("data", (chunk: Buffer) => channel.diagnostic(chunk));
  child.once("close", () => channel.end());
  return channel;
}
