import { answerlessResult, EXPIRES_AT_KEY, type OutputChunk, type RunnerRequest, type RunnerResult, unixNow } from "@code-interpreter/core";
import { isNotFound } from "./api-errors.js";
import { executorTermination } from "./container-exit.js";
import type { KubeApi } from "./kube-api.js";
import type { KubernetesBackendSettings } from "./kubernetes-backend-settings.js";
import { EXECUTOR_CONTAINER, execPodSpec, WARM_LABEL_KEY } from "./pod-spec.js";
import { waitForRunning } from "./pod-startup.js";
import { bootstrapArgv } from "./runner-bootstrap.js";
import { BACKSTOP_MS, RunnerConnection, talkToRunner } from "./runner-socket.js";

const MB = 1024 * 1024;

export interface SandboxRunOptions {
  request: RunnerRequest;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
}

/** A one-shot pod, Running, its runner attached, loaded and waiting for the request. */
export interface StartedPod {
  name: string;
  connection: RunnerConnection;
  /** Unix seconds when the kubelet stops the pod (`activeDeadlineSeconds`), at the latest. */
  deadline: number;
  /** Made ahead of demand by the pool. */
  warm: boolean;
}

export interface StartPodOptions {
  /** `activeDeadlineSeconds`: the longest the pod may live, start included. */
  lifetimeSeconds: number;
  /** The `code-interpreter.expires-at` annotation (unix seconds): past it (and a grace) the reaper may delete the pod. */
  expiresAt: number;
  /** Modules the runner imports before the request comes (a warm pod). */
  preload?: readonly string[];
  warm?: boolean;
  signal?: AbortSignal;
}

/**
 * Creates a one-shot pod with the bootstrapped runner as its main process,
 * waits for it to run and attaches to it (sending the runner its source);
 * deletes it if any of that fails.
 *
 * Attach rather than exec into a sleeping pod: the runner is then alone in its
 * container's pid namespace as pid 1, so after the code it can kill every
 * other process there (`killAll`), exactly as on Docker; and the pod ends by
 * itself when the runner does — also when the server that attached goes away
 * (`stdinOnce`: the runner sees the end of its input).
 */
export async function startPod(
  api: KubeApi,
  settings: KubernetesBackendSettings,
  name: string,
  options: StartPodOptions,
): Promise<StartedPod> {
  const runner = bootstrapArgv("python3", { preload: options.preload });
  const spec = execPodSpec(settings, name, runner, { seconds: options.lifetimeSeconds, at: options.expiresAt }, { warm: options.warm });
  try {
    options.signal?.throwIfAborted();
    const deadline = unixNow() + options.lifetimeSeconds;
    await api.createPod(spec);
    await waitForRunning(api, name, settings.podStartTimeoutMs, options.signal);
    const connection = await RunnerConnection.open((streams) => api.attach(name, EXECUTOR_CONTAINER, streams));
    return { name, connection, deadline, warm: options.warm === true };
  } catch (error) {
    // The name is enough: even a create whose answer was lost is cleaned up.
    await api.deletePod(name).catch(() => {});
    throw error;
  }
}

/** Seconds a fresh one-shot pod may live: start, the code's timeout and the backstop. */
export function oneShotLifetime(settings: KubernetesBackendSettings, request: RunnerRequest): number {
  return Math.ceil(((request.timeoutMs ?? 0) + BACKSTOP_MS + settings.podStartTimeoutMs) / 1000);
}

/** Seconds from now a request needs its pod to live: its timeout and the backstop. */
export function useSeconds(request: RunnerRequest): number {
  return Math.ceil(((request.timeoutMs ?? 0) + BACKSTOP_MS) / 1000);
}

/**
 * Sends the request to a started pod's runner and deletes the pod
 * afterwards, whatever happens. `live` holds the pod's kill switch while it
 * runs (for close()). A warm pod taken from the pool loses its warm label and
 * its expiry moves to this request's end (in the background, while the code
 * runs), so to the reaper it is an ordinary one-shot pod from then on.
 */
export async function runInPod(
  api: KubeApi,
  settings: KubernetesBackendSettings,
  pod: StartedPod,
  options: SandboxRunOptions,
  live: Map<string, () => Promise<void>>,
): Promise<RunnerResult> {
  const { name } = pod;
  const remove = async () => {
    await api.deletePod(name);
  };
  live.set(name, remove);
  const moved = pod.warm ? markTaken(api, settings, name, unixNow() + useSeconds(options.request)) : Promise.resolve();
  try {
    options.signal?.throwIfAborted();
    const outcome = await pod.connection.talk({
      ...options,
      maxSnapshotBytes: settings.workspaceSizeMb * MB,
      stop: remove,
    });
    if (outcome.stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
    if (outcome.result) return outcome.result;
    // Past the backstop the pod is being deleted: its end says nothing.
    const terminated = outcome.stopped ? undefined : await executorTermination(api, name);
    return answerlessResult(outcome, options.request, `exit ${terminated?.exitCode ?? "unknown"}`, terminated?.reason === "OOMKilled");
  } finally {
    live.delete(name);
    pod.connection.close();
    await moved;
    await api.deletePod(name).catch((error: Error) => settings.warn(`could not delete the pod ${name}: ${error.message}`));
  }
}

async function markTaken(api: KubeApi, settings: KubernetesBackendSettings, name: string, expiresAt: number): Promise<void> {
  try {
    await api.patchMetadata(name, { labels: { [WARM_LABEL_KEY]: null }, annotations: { [EXPIRES_AT_KEY]: String(expiresAt) } });
  } catch (error) {
    if (!isNotFound(error)) settings.warn(`could not mark the warm pod ${name} as taken: ${(error as Error).message}`);
  }
}

/** Runs the runner by exec in a running (session) pod. */
export async function runByExec(
  api: KubeApi,
  settings: KubernetesBackendSettings,
  pod: string,
  options: SandboxRunOptions,
): Promise<RunnerResult> {
  const outcome = await talkToRunner({
    open: (streams, onStatus) => api.exec(pod, EXECUTOR_CONTAINER, bootstrapArgv("python3"), streams, onStatus),
    ...options,
    maxSnapshotBytes: settings.workspaceSizeMb * MB,
    // The API cannot kill an exec: hanging up stops the wait, and the runner's own timeout ends the command.
    stop: async () => {},
  });
  if (outcome.stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
  if (outcome.result) return outcome.result;
  return answerlessResult(outcome, options.request, "no result", false);
}
