import type { RunCallbacks } from "../backend.js";
import { outputCallbacks } from "../output.js";
import type { RunnerChannel } from "../runner/runner-channel.js";
import { encodeRunnerRequest, type RunnerRequest, RunnerResponseDecoder } from "../runner/runner-protocol.js";
import { backstopMs, CLOSE_GRACE_MS } from "./deadlines.js";
import type { ExchangeOutcome } from "./exchange-outcome.js";

/** One exchange: the request, what takes the answer as it comes (`onFile`: the snapshot's files, one by one; the result's snapshot is then empty), and how to stop it. */
export interface ExchangeOptions extends RunCallbacks {
  request: RunnerRequest;
  signal?: AbortSignal;
  /** The most a workspace snapshot may unpack to. */
  maxSnapshotBytes?: number;
  /**
   * Stops the code for good, past the backstop or on abort: kills the
   * sandbox, or the kernel. Where nothing can be killed (an exec the API cannot
   * stop), hanging up is all there is and the runner's own timeout ends it.
   */
  stop: () => Promise<void>;
}

/**
 * The one exchange with a runner: sends the request and reads the framed
 * answer as it comes, until the result frame (always the last) or the end of
 * the connection. The backstop and the abort signal stop the code; a
 * connection that cannot report its own end after that is cut after a grace.
 * The channel stays open (a session's kernel takes the next request on it);
 * a one-shot sandbox's caller hangs up. While the snapshot's taker is
 * behind, the channel is paused: a large snapshot waits in the sandbox, not
 * in the server's memory.
 */
export async function exchange(channel: RunnerChannel, options: ExchangeOptions): Promise<ExchangeOutcome> {
  const { request } = options;
  const decoder = new RunnerResponseDecoder(request.maxOutputBytes, outputCallbacks(options), {
    maxBytes: options.maxSnapshotBytes,
    onFile: options.onFile,
  });
  let stopped: ExchangeOutcome["stopped"];
  let result: ExchangeOutcome["result"];
  let over = () => {};
  const finished = new Promise<void>((resolve) => {
    over = resolve;
  });
  let paused = false;
  const unlisten = channel.listen((chunk) => {
    if (!decoder.push(chunk) && !paused) {
      paused = true;
      channel.pause();
      void decoder.whenDrained().then(() => {
        paused = false;
        channel.resume();
      });
    }
    if (decoder.done) over();
  });
  void channel.closed.then(() => over());
  let grace: NodeJS.Timeout | undefined;
  let cut = () => {};
  const cutOff = new Promise<undefined>((resolve) => {
    cut = () => resolve(undefined);
  });
  const stop = (why: "backstop" | "abort") => {
    if (stopped) return;
    stopped = why;
    options.stop().catch(() => {});
    // An abort wants no answer; a backstop takes what has come within the grace.
    if (why === "abort") cut();
    // Past the grace the conversation is over, even when the connection cannot report its own end.
    grace = setTimeout(() => {
      channel.hangUp();
      over();
      cut();
    }, CLOSE_GRACE_MS);
    grace.unref();
  };
  const onAbort = () => stop("abort");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const backstop = setTimeout(() => stop("backstop"), backstopMs(request.timeoutMs));
  try {
    if (options.signal?.aborted) {
      onAbort();
      over();
    } else if (!channel.ended) channel.write(await encodeRunnerRequest(request));
    await finished;
    if (!stopped || stopped === "backstop") {
      // Handing the snapshot's files over is part of the exchange: a taker that hangs (a stalled store)
      // is bounded by the backstop and its grace like the code is, and the answer is then what has come.
      const answer = decoder.finish();
      answer.catch(() => {});
      result = await Promise.race([answer, cutOff]);
    }
  } finally {
    clearTimeout(backstop);
    clearTimeout(grace);
    options.signal?.removeEventListener("abort", onAbort);
    unlisten();
  }
  return {
    result: stopped === "abort" ? undefined : result,
    stopped,
    partial: decoder.partialOutput(),
    diagnostics: channel.diagnostics(),
  };
}
