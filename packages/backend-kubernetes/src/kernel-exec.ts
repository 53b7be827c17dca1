import { killByMarkerArgv, type PersistentRunnerHandle } from "@code-interpreter/core/engine";
import type { V1Pod, V1Status } from "@kubernetes/client-node";
import type { KubeApi } from "./kube-api.js";
import { podChannel } from "./pod-channel.js";
import { EXECUTOR_CONTAINER } from "./pod-spec.js";

/** How long the exec that stops a runner may take before the server stops waiting for it. */
const KILL_WAIT_MS = 10_000;

/**
 * Starts a session's long-lived runner (its Python kernel, or its command
 * runner) by exec in its pod and keeps the exec's WebSocket open: each
 * request is then a write and a read, with no exec of its own. It runs with
 * the pod's environment (the code's, set at its creation), since an exec cannot
 * set one. A server that goes away takes these with it (their stdin ends);
 * the files stay in the pod. `marker` is on its command line; `afterBootstrap`
 * follows the runner's source on its stdin (the egress forwarder's settings).
 */
export async function startMarked(
  api: KubeApi,
  pod: string,
  argv: string[],
  marker: string,
  afterBootstrap?: Buffer,
): Promise<PersistentRunnerHandle> {
  let status: V1Status | undefined;
  // Its status is kept for exitReport (a runner that ended mid-command), not made a diagnostic of the channel.
  const channel = await podChannel(
    (streams) =>
      api.exec(pod, EXECUTOR_CONTAINER, argv, streams, (received) => {
        status = received;
      }),
    { afterBootstrap },
  );
  return {
    channel,
    exitReport: async () => `${describeExecStatus(status)}; ${describePod(await api.readPod(pod))}`,
    // The API cannot kill an exec (and the kubelet lets one run on after its client hangs up): find
    // the runner by its marker, inside the pod's container, and kill it there.
    kill: async () => {
      channel.hangUp();
      await killMarked(api, pod, marker);
    },
  };
}

/** SIGKILL to every process of the container whose command line carries `marker` (core's `killByMarkerArgv`). */
async function killMarked(api: KubeApi, pod: string, marker: string): Promise<void> {
  const argv = killByMarkerArgv(marker);
  const channel = await podChannel((streams) => api.exec(pod, EXECUTOR_CONTAINER, argv, streams, () => {}), { bootstrap: false });
  let timer: NodeJS.Timeout | undefined;
  const patience = new Promise((resolve) => {
    timer = setTimeout(resolve, KILL_WAIT_MS);
  });
  await Promise.race([channel.closed, patience]);
  clearTimeout(timer);
  channel.hangUp();
}

/** The exec's status (its channel 3), in words: `exec exit 137`, or why there is none. */
export function describeExecStatus(status: V1Status | undefined): string {
  if (!status) return "no exec status (the connection to it broke, or the API sent none)";
  if (status.status === "Success") return "exec exit 0";
  const exitCode = status.details?.causes?.find((cause) => cause.reason === "ExitCode")?.message;
  if (status.reason === "NonZeroExitCode" && exitCode !== undefined) return `exec exit ${exitCode}`;
  return `exec ${status.reason ?? "Failure"}: ${status.message ?? ""}`.trim();
}

/** The pod's phase and its executor container's state, in words: `pod Running, executor running`. */
export function describePod(pod: V1Pod | undefined): string {
  if (!pod) return "pod gone";
  const state = pod.status?.containerStatuses?.find((status) => status.name === EXECUTOR_CONTAINER)?.state;
  const terminated = state?.terminated;
  const executor = terminated
    ? `terminated (${terminated.reason ?? "exit"} ${terminated.exitCode} at ${terminated.finishedAt?.toISOString?.() ?? terminated.finishedAt})`
    : state?.running
      ? "running"
      : state?.waiting
        ? `waiting (${state.waiting.reason ?? ""})`
        : "state unknown";
  const deleting = pod.metadata?.deletionTimestamp ? ", being deleted" : "";
  return `pod ${pod.status?.phase ?? "phase unknown"}${deleting}, executor ${executor}`;
}
