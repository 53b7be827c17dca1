import { BackendUnavailableError } from "../errors.js";
import type { RunnerRequest, RunnerResult } from "../runner/runner-protocol.js";

/** How a conversation with a sandbox's runner ended; `result` is undefined when the runner never finished. */
export interface ExchangeOutcome {
  result: RunnerResult | undefined;
  /** The server stopped the sandbox: past the backstop, or the caller aborted. */
  stopped: "backstop" | "abort" | undefined;
  /** Output that arrived before the end. */
  partial: { stdout: string; stderr: string };
  /** The runner's own stderr (not the code's), or the platform's reason, if any. */
  diagnostics: string;
}

/**
 * The answer for a runner that gave none: past the backstop that is a
 * timeout; killed for memory it is the code's failure (exit 137, like a
 * SIGKILL); otherwise the sandbox broke, which is the backend's error.
 */
export function answerlessResult(outcome: ExchangeOutcome, request: RunnerRequest, exit: string, outOfMemory = false): RunnerResult {
  const base = { ...outcome.partial, durationMs: request.timeoutMs ?? 0, snapshot: [], snapshotTruncated: false };
  if (outcome.stopped === "backstop") return { ...base, exitCode: null, timedOut: true };
  if (outOfMemory) return { ...base, stderr: `${base.stderr}\nKilled: the sandbox ran out of memory\n`, exitCode: 137, timedOut: false };
  throw new BackendUnavailableError({
    message: `the sandbox ended without an answer (${exit})${outcome.diagnostics ? `: ${outcome.diagnostics}` : ""}`,
  });
}
