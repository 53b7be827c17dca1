import type { Duplex } from "node:stream";
import {
  answerlessResult,
  type OutputChunk,
  type RunnerRequest,
  type RunnerResult,
  runnerArgv,
  unixNow,
  WORKSPACE_DIR,
} from "@code-interpreter/core";
import type Dockerode from "dockerode";
import { execContainerSpec } from "./container-spec.js";
import type { DockerBackendSettings } from "./docker-backend-settings.js";
import { removeContainer } from "./reaper.js";
import { BACKSTOP_MS, talkToRunner } from "./runner-stream.js";

/** Seconds a one-shot container may take to start, on top of its timeout, before the reaper may take it. */
const START_ALLOWANCE_SECONDS = 60;

export interface SandboxRunOptions {
  request: RunnerRequest;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
}

/** A one-shot container, started, its runner waiting for the request on the attached stream. */
export interface StartedSandbox {
  name: string;
  container: Dockerode.Container;
  stream: Duplex;
}

export interface StartOptions {
  /** Seconds the container may live before the reaper may take it. */
  lifetimeSeconds: number;
  env?: Record<string, string>;
  /** Modules the runner imports before the request comes (a warm sandbox). */
  preload?: readonly string[];
  warm?: boolean;
}

/** Creates and starts a one-shot container with the runner as its main process; removes it if that fails. */
export async function startSandbox(settings: DockerBackendSettings, name: string, options: StartOptions): Promise<StartedSandbox> {
  const { docker } = settings;
  const deadline = unixNow() + options.lifetimeSeconds;
  try {
    const runner = runnerArgv("python3", { preload: options.preload });
    const container = await docker.createContainer(execContainerSpec(settings, name, runner, deadline, options));
    // Attach before start, so no output is missed and stdin is there when the runner reads it.
    const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
    await container.start();
    return { name, container, stream };
  } catch (error) {
    await removeContainer(docker, name).catch(() => {});
    throw error;
  }
}

/** Seconds a one-shot container may live: its timeout, the backstop and time to start. */
export function oneShotLifetime(request: Pick<RunnerRequest, "timeoutMs">): number {
  return Math.ceil(((request.timeoutMs ?? 0) + BACKSTOP_MS) / 1000) + START_ALLOWANCE_SECONDS;
}

/**
 * Sends the request to a started sandbox's runner and removes the container
 * afterwards, whatever happens: the removal is handed to `cleanup` so the
 * answer need not wait for it. `live` holds the container's kill switch while
 * it runs (for close()).
 */
export async function runInSandbox(
  settings: DockerBackendSettings,
  sandbox: StartedSandbox,
  options: SandboxRunOptions,
  live: Map<string, () => Promise<void>>,
  cleanup: (removal: Promise<void>) => void,
): Promise<RunnerResult> {
  const { docker } = settings;
  const { name, container, stream } = sandbox;
  const kill = async () => {
    await container.kill();
  };
  live.set(name, kill);
  try {
    options.signal?.throwIfAborted();
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
    return answerlessResult(outcome, options.request, `exit ${state.ExitCode}`, state.OOMKilled);
  } finally {
    live.delete(name);
    stream.destroy();
    // The name is enough: even a create whose answer was lost is cleaned up.
    cleanup(removeContainer(docker, name).catch((error: Error) => settings.warn(`could not remove ${name}: ${error.message}`)));
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
  return answerlessResult(outcome, options.request, `exit ${exitCode ?? "unknown"}`, false);
}
