import type { RunCallbacks } from "../backend.js";
import { BackendUnavailableError } from "../errors.js";
import type { RunnerChannel } from "../runner/runner-channel.js";
import type { RunnerRequest, RunnerResult } from "../runner/runner-protocol.js";
import { exchange } from "./exchange.js";
import type { ExchangeOutcome } from "./exchange-outcome.js";

/** How a caller takes one request's answer as it comes: its output, and its snapshot's files (see exchange). */
type RunOptions = RunCallbacks & { signal?: AbortSignal };

export interface PersistentRunnerOptions {
  /** The most a workspace snapshot may unpack to. */
  maxSnapshotBytes?: number;
  /** Request fields its requests need set (see RunnerHandle). */
  requestOverrides?: Partial<RunnerRequest>;
  /** It takes one request only (see PersistentRunnerHandle.singleUse). */
  singleUse?: boolean;
  /**
   * The answer for a request during which the process ended without
   * answering (or the error to throw). Asked before the process is stopped:
   * how it ended can still be read then (a kill would hide a runner that
   * still runs behind a broken connection).
   */
  whenLost: (outcome: ExchangeOutcome, request: RunnerRequest, lost: { letGo: boolean }) => RunnerResult | Promise<RunnerResult>;
}

/**
 * A long-lived runner process of a session, taking one request at a time (in
 * order) over its channel: the Python kernel, or the command runner. One that
 * ends, would not stop, or is stopped is dead: the engine starts a new one for
 * the next request.
 */
export class PersistentRunner {
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly channel: RunnerChannel,
    /** Stops the process for good (the channel is hung up first). */
    private readonly kill: () => Promise<void>,
    private readonly options: PersistentRunnerOptions,
  ) {}

  /** It takes one request only: its owner replaces it after that. */
  get singleUse(): boolean {
    return this.options.singleUse === true;
  }

  /** False once the process has ended (a kernel's variables are gone with it). */
  get alive(): boolean {
    return !this.stopped && !this.channel.ended;
  }

  /** Has one exchange, after those before it. */
  exchange(request: RunnerRequest, options: RunOptions = {}): Promise<RunnerResult> {
    const next = this.queue.then(() => this.exchangeNow(request, options));
    this.queue = next.catch(() => {});
    return next;
  }

  /** Forgets the process without stopping it: for a sandbox that is being removed. */
  dispose(): void {
    this.stopped = true;
    this.channel.hangUp();
  }

  /** Stops the process (once: later calls wait for the same stop). */
  stop(): Promise<void> {
    this.stopped = true;
    this.channel.hangUp();
    this.stopping ??= this.kill().catch(() => {});
    return this.stopping;
  }

  /**
   * Resolves once a stop under way is done (at once when none is). A kill by
   * marker that is still running when the next runner starts would take the
   * next one with it.
   */
  whenStopped(): Promise<void> {
    return this.stopping ?? Promise.resolve();
  }

  private async exchangeNow(request: RunnerRequest, options: RunOptions): Promise<RunnerResult> {
    if (!this.alive) throw new BackendUnavailableError({ message: "the session's runner has ended" });
    const planned = this.options.requestOverrides ? { ...request, ...this.options.requestOverrides } : request;
    const outcome = await exchange(this.channel, {
      request: planned,
      ...options,
      maxSnapshotBytes: this.options.maxSnapshotBytes,
      stop: () => this.stop(),
    });
    if (outcome.stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
    if (outcome.result) {
      if (outcome.result.restarted) await this.stop();
      return outcome.result;
    }
    // It went away mid-request: stopped by the backstop, killed for memory, or crashed, or its owner let it go (its
    // sandbox is being removed). Its answer (or error) is made first, while how it ended can still be read; then it
    // is stopped for good.
    const letGo = this.stopped;
    const lost = Promise.resolve().then(() => this.options.whenLost(outcome, planned, { letGo }));
    await lost.catch(() => {});
    await this.stop();
    return lost;
  }
}

/** A session's Python kernel: its variables stay between cells; one lost mid-cell is restarted, and the answer says so. */
export class PythonKernel extends PersistentRunner {
  constructor(channel: RunnerChannel, kill: () => Promise<void>, options: Omit<PersistentRunnerOptions, "whenLost"> = {}) {
    super(channel, kill, { ...options, whenLost: restartedAnswer });
  }
}

function restartedAnswer(outcome: ExchangeOutcome, request: RunnerRequest): RunnerResult {
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
