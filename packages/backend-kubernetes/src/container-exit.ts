import type { V1ContainerStateTerminated } from "@kubernetes/client-node";
import type { KubeApi } from "./kube-api.js";
import { EXECUTOR_CONTAINER } from "./pod-spec.js";

/** How long the kubelet may take to report a container's end after its socket closed. */
const REPORT_WAIT_MS = 5000;
const POLL_MS = 200;

/**
 * How the executor container of a pod ended, once the pod's status says so:
 * its socket closes before the kubelet (or the double) records the end, so a
 * single read would often miss an OOM kill. Undefined if the pod is gone or
 * no end is reported within `waitMs`.
 */
export async function executorTermination(
  api: KubeApi,
  name: string,
  waitMs = REPORT_WAIT_MS,
): Promise<V1ContainerStateTerminated | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const pod = await api.readPod(name).catch(() => undefined);
    const terminated = pod?.status?.containerStatuses?.find((status) => status.name === EXECUTOR_CONTAINER)?.state?.terminated;
    if (terminated || !pod || Date.now() >= deadline) return terminated;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
