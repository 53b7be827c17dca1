import { type Backend, BackendUnavailableError } from "@code-interpreter/core";
import type { SandboxRuntime } from "@code-interpreter/core/sandbox";
import { RuntimeRouter } from "./runtime-router.js";

/** How long the trial may take, sandbox start included (a first image pull or rootfs is not part of it). */
const TRIAL_DEADLINE_MS = 120_000;

/**
 * Runs `print(1)` in one sandbox of every runtime offered (a RuntimeRouter's
 * backends, at once), each made with the configured image, runtime and
 * limits, so a backend or runtime that cannot run code stops the server at
 * start-up with the reason instead of failing requests later. Throws
 * BackendUnavailableError saying which runtime failed, and how.
 */
export async function trialSandbox(backend: Backend, deadlineMs = TRIAL_DEADLINE_MS): Promise<void> {
  if (!(backend instanceof RuntimeRouter)) return trialOne(backend, undefined, deadlineMs);
  const trials = await Promise.allSettled(
    [...backend.backends].map(([runtime, one]) =>
      trialOne(one, backend.backends.size > 1 || runtime !== "default" ? runtime : undefined, deadlineMs),
    ),
  );
  const failures = trials.filter((trial): trial is PromiseRejectedResult => trial.status === "rejected").map((trial) => trial.reason);
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new BackendUnavailableError({ message: failures.map((failure: Error) => failure.message).join("; "), cause: failures[0] });
  }
}

/** The trial of one backend; `runtime` names it in the message (left out for a server offering only the default runtime). */
async function trialOne(backend: Backend, runtime: SandboxRuntime | undefined, deadlineMs: number): Promise<void> {
  const which = runtime ? `the ${backend.name} backend's runtime ${runtime} (SANDBOX_RUNTIMES)` : `the ${backend.name} backend`;
  const failed = (why: string, cause?: unknown) =>
    new BackendUnavailableError({ message: `${which} cannot run code: its trial sandbox (print(1)) ${why}`, cause });
  const signal = AbortSignal.timeout(deadlineMs);
  let result: Awaited<ReturnType<Backend["execute"]>>;
  try {
    result = await backend.execute({
      code: "print(1)",
      // The whole deadline: on a loaded machine a gVisor sandbox's Python can take tens of seconds to
      // start (seen at load average 29 with 30 s here), and a slow machine is not a broken runtime.
      timeoutMs: deadlineMs,
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
