import { answerlessResult, type OutputChunk, type RunnerRequest, type RunnerResult, unixNow } from "@code-interpreter/core";
import type { KubeApi } from "./kube-api.js";
import type { KubernetesBackendSettings } from "./kubernetes-backend-settings.js";
import { EXECUTOR_CONTAINER, execPodSpec } from "./pod-spec.js";
import { waitForRunning } from "./pod-startup.js";
import { bootstrapArgv } from "./runner-bootstrap.js";
import { BACKSTOP_MS, talkToRunner } from "./runner-socket.js";

const MB = 1024 * 1024;

export interface SandboxRunOptions {
  request: RunnerRequest;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
}

/**
 * Runs the runner as the main process of a fresh pod `name`, attached to its
 * stdin and stdout, and deletes the pod afterwards, whatever happens. `live`
 * holds the pod's kill switch while it runs (for close()).
 *
 * Attach rather than exec into a sleeping pod: the runner is then alone in its
 * container's pid namespace as pid 1, so after the code it can kill every
 * other process there (`killAll`), exactly as on Docker; and the pod ends by
 * itself when the runner does.
 */
export async function runInNewPod(
  api: KubeApi,
  settings: KubernetesBackendSettings,
  name: string,
  options: SandboxRunOptions,
  live: Map<string, () => Promise<void>>,
): Promise<RunnerResult> {
  const budgetSeconds = Math.ceil(((options.request.timeoutMs ?? 0) + BACKSTOP_MS + settings.podStartTimeoutMs) / 1000);
  const remove = async () => {
    await api.deletePod(name);
  };
  live.set(name, remove);
  try {
    options.signal?.throwIfAborted();
    const spec = execPodSpec(settings, name, bootstrapArgv("python3"), { seconds: budgetSeconds, at: unixNow() + budgetSeconds });
    await api.createPod(spec);
    await waitForRunning(api, name, settings.podStartTimeoutMs, options.signal);
    const outcome = await talkToRunner({
      open: (streams) => api.attach(name, EXECUTOR_CONTAINER, streams),
      ...options,
      maxSnapshotBytes: settings.workspaceSizeMb * MB,
      stop: remove,
    });
    if (outcome.stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
    if (outcome.result) return outcome.result;
    const pod = await api.readPod(name).catch(() => undefined);
    const terminated = pod?.status?.containerStatuses?.find((status) => status.name === EXECUTOR_CONTAINER)?.state?.terminated;
    return answerlessResult(outcome, options.request, `exit ${terminated?.exitCode ?? "unknown"}`, terminated?.reason === "OOMKilled");
  } finally {
    live.delete(name);
    // The name is enough: even a create whose answer was lost is cleaned up.
    await api.deletePod(name).catch((error: Error) => settings.warn(`could not delete the pod ${name}: ${error.message}`));
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
