import { killByMarkerArgv, type PersistentRunnerHandle } from "@code-interpreter/core/engine";
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
  const channel = await podChannel((streams) => api.exec(pod, EXECUTOR_CONTAINER, argv, streams, () => {}), { afterBootstrap });
  return {
    channel,
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
