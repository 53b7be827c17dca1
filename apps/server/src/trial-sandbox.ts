import { type Backend, BackendUnavailableError } from "@code-interpreter/core";

/** How long the trial may take, sandbox start included (a first image pull or rootfs is not part of it). */
const TRIAL_DEADLINE_MS = 120_000;

/**
 * Runs `print(1)` in one sandbox made with the configured image, runtime and
 * limits, so a backend that cannot run code stops the server at start-up with
 * the reason instead of failing every request later. Throws
 * BackendUnavailableError saying what failed.
 */
export async function trialSandbox(backend: Backend, deadlineMs = TRIAL_DEADLINE_MS): Promise<void> {
  const failed = (why: string, cause?: unknown) =>
    new BackendUnavailableError({ message: `the ${backend.name} backend cannot run code: its trial sandbox (print(1)) ${why}`, cause });
  const signal = AbortSignal.timeout(deadlineMs);
  let result: Awaited<ReturnType<Backend["execute"]>>;
  try {
    result = await backend.execute({
      code: "print(1)",
      timeoutMs: Math.min(30_000, deadlineMs),
      lastLineInteractive: false,
      files: [],
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw failed(`did not finish within ${deadlineMs / 1000} s`, error);
    throw failed(`failed: ${(error as Error)?.message ?? String(error)}`, error);
  }
  if (result.exitCode !== 0 || result.stdout !== "1\n") {
    const stderr = result.stderr.trim().split("\n").slice(-3).join(" / ");
    const ending = result.timedOut ? "timed out" : `exited with ${result.exitCode}`;
    throw failed(`${ending}, printing ${JSON.stringify(result.stdout.slice(0, 200))}${stderr ? `; stderr: ${stderr.slice(0, 500)}` : ""}`);
  }
}
