import type { Duplex } from "node:stream";
import {
  BackendUnavailableError,
  type OutputChunk,
  type RunnerRequest,
  type RunnerResult,
  runnerArgv,
  unixNow,
  WORKSPACE_DIR,
} from "@code-interpreter/core";
import { execContainerSpec } from "./container-spec.js";
import type { DockerBackendSettings } from "./docker-backend-settings.js";
import { removeContainer } from "./reaper.js";
import { BACKSTOP_MS, type RunnerStreamOutcome, talkToRunner } from "./runner-stream.js";

/** Seconds a one-shot container may take to start, on top of its timeout, before the reaper may take it. */
const START_ALLOWANCE_SECONDS = 60;

export interface SandboxRunOptions {
  request: RunnerRequest;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
}

/**
 * Runs the runner as the main process of a fresh container `name` and removes
 * the container afterwards, whatever happens. `live` holds the container's
 * kill switch while it runs (for close()).
 */
export async function runInNewContainer(
  settings: DockerBackendSettings,
  name: string,
  options: SandboxRunOptions,
  live: Map<string, () => Promise<void>>,
): Promise<RunnerResult> {
  const { docker } = settings;
  const deadline = unixNow() + Math.ceil(((options.request.timeoutMs ?? 0) + BACKSTOP_MS) / 1000) + START_ALLOWANCE_SECONDS;
  const kill = async () => {
    await docker.getContainer(name).kill();
  };
  live.set(name, kill);
  try {
    options.signal?.throwIfAborted();
    const container = await docker.createContainer(execContainerSpec(settings, name, runnerArgv("python3"), deadline));
    options.signal?.throwIfAborted();
    // Attach before start, so no output is missed and stdin is there when the runner reads it.
    const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
    await container.start();
    const outcome = await talkToRunner({
      docker,
      stream,
      ...options,
      maxSnapshotBytes: settings.workspaceSizeMb * 1024 * 1024,
      stop: kill,
    });
    if (outcome.stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
    if (outcome.result) return outcome.result;
    const state = (await container.inspect()).State;
    return answerless(outcome, options.request, `exit ${state.ExitCode}`, state.OOMKilled);
  } finally {
    live.delete(name);
    // The name is enough: even a create whose answer was lost is cleaned up.
    await removeContainer(docker, name).catch((error: Error) => settings.warn(`could not remove ${name}: ${error.message}`));
  }
}

/** Runs the runner by exec in a running (session) container. */
export async function runByExec(settings: DockerBackendSettings, containerId: string, options: SandboxRunOptions): Promise<RunnerResult> {
  const { docker } = settings;
  const exec = await docker.getContainer(containerId).exec({
    Cmd: runnerArgv("python3"),
    User: `${settings.sandboxUid}:${settings.sandboxUid}`,
    WorkingDir: WORKSPACE_DIR,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  options.signal?.throwIfAborted();
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: false })) as Duplex;
  // The Engine API cannot kill an exec: cutting its stream stops the wait, and the
  // runner's own timeout still ends the command.
  const outcome = await talkToRunner({
    docker,
    stream,
    ...options,
    maxSnapshotBytes: settings.workspaceSizeMb * 1024 * 1024,
    stop: async () => {
      stream.destroy();
    },
  });
  if (outcome.stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
  if (outcome.result) return outcome.result;
  const exitCode = outcome.stopped ? undefined : (await exec.inspect()).ExitCode;
  return answerless(outcome, options.request, `exit ${exitCode ?? "unknown"}`, false);
}

/**
 * The runner gave no answer: past the backstop that is a timeout; killed for
 * memory it is the code's failure (exit 137, like a SIGKILL); otherwise the
 * sandbox broke.
 */
function answerless(outcome: RunnerStreamOutcome, request: RunnerRequest, exit: string, outOfMemory: boolean): RunnerResult {
  const base = { ...outcome.partial, durationMs: request.timeoutMs ?? 0, snapshot: [], snapshotTruncated: false };
  if (outcome.stopped === "backstop") return { ...base, exitCode: null, timedOut: true };
  if (outOfMemory) return { ...base, stderr: `${base.stderr}\nKilled: the sandbox ran out of memory\n`, exitCode: 137, timedOut: false };
  throw new BackendUnavailableError({
    message: `the sandbox ended without an answer (${exit})${outcome.diagnostics ? `: ${outcome.diagnostics}` : ""}`,
  });
}
