import { BackendUnavailableError } from "./errors.js";
import { encodeRunnerRequest, type OutputChunk, type RunnerRequest, RunnerResponseDecoder, type RunnerResult } from "./runner-protocol.js";

/** How a backend connects a PythonKernel to the kernel process in its sandbox. */
export interface KernelTransport {
  /** Sends bytes to the kernel's stdin. */
  write(data: Buffer): void;
  /** Subscribes to the kernel's stdout (demultiplexed: framed answers only). */
  onData(listener: (chunk: Buffer) => void): void;
  /** Subscribes to the kernel going away. */
  onClose(listener: () => void): void;
  /** Stops the kernel process for good. */
  kill(): Promise<void>;
  /** Drops the connection without stopping the process (its sandbox is going anyway). */
  close?(): void;
}

/** Time past a cell's timeout before the server gives up on the kernel and stops it. */
const BACKSTOP_MS = 10_000;

/**
 * The server's side of a session's Python kernel: sends it one request at a
 * time (in order) and reads each framed answer. A kernel that ends, would not
 * stop, or is stopped is dead: the backend starts a new one for the next cell.
 */
export class PythonKernel {
  private queue: Promise<unknown> = Promise.resolve();
  private current: RunnerResponseDecoder | undefined;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly transport: KernelTransport,
    private readonly limits: { maxSnapshotBytes?: number } = {},
  ) {
    transport.onData((chunk) => {
      this.current?.push(chunk);
      if (this.current?.done) this.wake();
    });
    transport.onClose(() => {
      this.closed = true;
      this.wake();
    });
  }

  /** False once the kernel has ended; its variables are gone with it. */
  get alive(): boolean {
    return !this.closed;
  }

  /** Runs one request (a `cell`) after those before it. */
  run(request: RunnerRequest, options: { onOutput?: (chunk: OutputChunk) => void; signal?: AbortSignal } = {}): Promise<RunnerResult> {
    const next = this.queue.then(() => this.runNow(request, options));
    this.queue = next.catch(() => {});
    return next;
  }

  /** Forgets the kernel without stopping it: for a sandbox that is being removed. */
  dispose(): void {
    this.closed = true;
    this.wake();
    this.transport.close?.();
  }

  /** Stops the kernel. */
  async stop(): Promise<void> {
    this.closed = true;
    this.wake();
    await this.transport.kill().catch(() => {});
  }

  private async runNow(request: RunnerRequest, options: { onOutput?: (chunk: OutputChunk) => void; signal?: AbortSignal }) {
    if (this.closed) throw new BackendUnavailableError({ message: "the Python session's interpreter has ended" });
    const decoder = new RunnerResponseDecoder(request.maxOutputBytes, options.onOutput);
    this.current = decoder;
    let stopped: "backstop" | "abort" | undefined;
    const stop = (why: "backstop" | "abort") => {
      stopped ??= why;
      void this.stop();
    };
    const onAbort = () => stop("abort");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const backstop = setTimeout(() => stop("backstop"), (request.timeoutMs ?? 0) + BACKSTOP_MS);
    try {
      this.transport.write(await encodeRunnerRequest(request));
      await new Promise<void>((resolve) => {
        if (decoder.done || this.closed) return resolve();
        this.waiters.add(resolve);
      });
      if (stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
      const result = await decoder.finish({ maxBytes: this.limits.maxSnapshotBytes });
      if (result) {
        if (result.restarted) await this.stop();
        return result;
      }
      // The kernel went away mid-cell: stopped by the backstop, killed for memory, or crashed.
      await this.stop();
      const partial = decoder.partialOutput();
      const note = "\n[the Python session was restarted: its interpreter ended during this code, so its variables are gone]\n";
      return {
        stdout: partial.stdout,
        stderr: partial.stderr + note,
        exitCode: null,
        timedOut: stopped === "backstop",
        durationMs: request.timeoutMs ?? 0,
        snapshot: [],
        snapshotTruncated: false,
        restarted: true,
      };
    } finally {
      clearTimeout(backstop);
      options.signal?.removeEventListener("abort", onAbort);
      this.current = undefined;
    }
  }

  private wake(): void {
    for (const resolve of this.waiters) resolve();
    this.waiters.clear();
  }
}
