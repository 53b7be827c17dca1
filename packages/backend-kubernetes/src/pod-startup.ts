import { BackendUnavailableError } from "@code-interpreter/core";
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import type { KubeApi } from "./kube-api.js";
import { LOCKDOWN_CONTAINER } from "./pod-spec.js";

const POLL_MS = 200;
/** Waiting reasons that will not fix themselves while a request waits. */
const IMAGE_REASONS = new Set(["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]);
const BROKEN_REASONS = new Set(["CreateContainerConfigError", "CreateContainerError", "RunContainerError", "CrashLoopBackOff"]);

/**
 * Polls the pod until it is Running, and fails with a BackendUnavailableError
 * a person can act on as soon as it is clear it will not be: an image that
 * cannot be pulled, no node that can take it, a failed init container, or
 * the start timeout.
 */
export async function waitForRunning(api: KubeApi, name: string, timeoutMs: number, signal?: AbortSignal): Promise<V1Pod> {
  const deadline = Date.now() + timeoutMs;
  let last: V1Pod | undefined;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    signal?.throwIfAborted();
    last = await api.readPod(name);
    if (!last) throw new BackendUnavailableError({ message: `the sandbox pod ${name} was deleted while it started` });
    if (last.status?.phase === "Running") return last;
    const problem = startProblem(last);
    if (problem) throw new BackendUnavailableError({ message: `the sandbox pod ${name} cannot start: ${problem}` });
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS * (1 + attempt / 10), 1000)));
  }
  throw new BackendUnavailableError({
    message: `the sandbox pod ${name} did not start within ${Math.round(timeoutMs / 1000)} s (${describe(last)})`,
  });
}

/** Why a pod will not become Running, or undefined while it still may. */
export function startProblem(pod: V1Pod): string | undefined {
  const status = pod.status;
  const unschedulable = status?.conditions?.find((condition) => condition.type === "PodScheduled" && condition.status === "False");
  if (unschedulable?.reason === "Unschedulable") return `no node can take it: ${unschedulable.message ?? "Unschedulable"}`;
  for (const container of [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])]) {
    const waiting = container.state?.waiting;
    if (waiting?.reason && IMAGE_REASONS.has(waiting.reason)) {
      return `the image ${container.image || imageOf(pod, container)} cannot be pulled (${waiting.reason}: ${waiting.message ?? ""})`;
    }
    if (waiting?.reason && BROKEN_REASONS.has(waiting.reason)) return `${container.name}: ${waiting.reason}: ${waiting.message ?? ""}`;
  }
  const failedInit = status?.initContainerStatuses?.find((container) => (container.state?.terminated?.exitCode ?? 0) !== 0);
  if (failedInit) return initFailure(failedInit);
  if (status?.phase === "Failed" || status?.phase === "Succeeded") {
    return `it ended before it ran (${status.phase}${status.reason ? `: ${status.reason}` : ""}${status.message ? `, ${status.message}` : ""})`;
  }
  return undefined;
}

function initFailure(container: V1ContainerStatus): string {
  const exit = container.state?.terminated;
  const base = `the init container ${container.name} failed (exit ${exit?.exitCode}${exit?.message ? `: ${exit.message.trim()}` : ""})`;
  if (container.name !== LOCKDOWN_CONTAINER) return base;
  return `${base}; the network lockdown needs an image with iptables or nft and a namespace that admits NET_ADMIN — set lockdownImage, or KUBERNETES_EXECUTOR_NET_ADMIN_LOCKDOWN=false and rely on the NetworkPolicy`;
}

function imageOf(pod: V1Pod, status: V1ContainerStatus): string {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === status.name)?.image ?? "(unknown)";
}

function describe(pod: V1Pod | undefined): string {
  if (!pod) return "no answer";
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  return `phase ${pod.status?.phase ?? "unknown"}${waiting?.reason ? `, ${waiting.reason}` : ""}`;
}
