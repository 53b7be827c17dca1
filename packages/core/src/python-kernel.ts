import { converse } from "./engine/converse.js";
import { RunnerChannel } from "./engine/runner-channel.js";
import { BackendUnavailableError } from "./errors.js";
import type { OutputListener } from "./rich-results.js";
import type { OutputChunk, RunnerRequest, RunnerResult } from "./runner-protocol.js";

/**
 * The server's side of a session's Python kernel: sends it one request at a
 * time (in order) over its channel and reads each framed answer. A kernel
 * that ends, would not stop, or is stopped is dead: the engine starts a new
 * one for the next cell.
 */
export class PythonKernel {
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly channel: RunnerChannel,
    /** Stops the kernel process for good (the channel is hung up first). */
    private readonly kill: () => Promise<void>,
    private readonly options: { maxSnapshotBytes?: number; requestOverrides?: Partial<RunnerRequest> } = {},
  ) {}

  /** False once the kernel has ended; its variables are gone with it. */
  get alive(): boolean {
    return !this.stopped && !this.channel.ended;
  }

  /** Runs one request (a `cell`) after those before it. */
  run(
    request: RunnerRequest,
    options: { onOutput?: OutputListener | ((chunk: OutputChunk) => void); signal?: AbortSignal } = {},
  ): Promise<RunnerResult> {
    const next = this.queue.then(() => this.runNow(request, options));
    this.queue = next.catch(() => {});
    return next;
  }

  /** Forgets the kernel without stopping it: for a sandbox that is being removed. */
  dispose(): void {
    this.stopped = true;
    this.channel.hangUp();
  }

  /** Stops the kernel. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.channel.hangUp();
    await this.kill().catch(() => {});
  }

  private async runNow(
    request: RunnerRequest,
    options: { onOutput?: OutputListener | ((chunk: OutputChunk) => void); signal?: AbortSignal },
  ): Promise<RunnerResult> {
    if (!this.alive) throw new BackendUnavailableError({ message: "the Python session's interpreter has ended" });
    const outcome = await converse(this.channel, {
      request: this.options.requestOverrides ? { ...request, ...this.options.requestOverrides } : request,
      ...options,
      maxSnapshotBytes: this.options.maxSnapshotBytes,
      stop: () => this.stop(),
    });
    if (outcome.stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
    if (outcome.result) {
      if (outcome.result.restarted) await this.stop();
      return outcome.result;
    }
    // The kernel went away mid-cell: stopped by the backstop, killed for memory, or crashed.
    await this.stop();
    const note = "\n[the Python session was restarted: its interpreter ended during this code, so its variables are gone]\n";
    return {
      stdout: outcome.partial.stdout,
      stderr: outcome.partial.stderr + note,
      exitCode: null,
      timedOut: outcome.stopped === "backstop",
      durationMs: request.timeoutMs ?? 0,
      snapshot: [],
      snapshotTruncated: false,
      restarted: true,
    };
  }
}

/**
 * @deprecated Transitional, for drivers not yet ported to RunnerChannel: the
 * old callback transport of a kernel. Removed once every backend is a driver.
 */
export interface KernelTransport {
  write(data: Buffer): void;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: () => void): void;
  kill(): Promise<void>;
  close?(): void;
}

/** @deprecated See KernelTransport. */
export function kernelOverTransport(transport: KernelTransport, options: { maxSnapshotBytes?: number } = {}): PythonKernel {
  const channel = new RunnerChannel({ write: (data) => transport.write(data), hangUp: () => transport.close?.() });
  transport.onData((chunk) => channel.data(chunk));
  transport.onClose(() => channel.end());
  return new PythonKernel(channel, () => transport.kill(), options);
}
