import type { V1Container, V1ContainerStatus, V1PodCondition, V1PodSpec } from "@kubernetes/client-node";
import type { Faults } from "./faults.js";
import { type PodRecord, timestamp } from "./pod-record.js";

/** A pod condition as the kubelet writes it. */
export function condition(type: string, status: "True" | "False", reason?: string, message?: string): V1PodCondition {
  return {
    type,
    status,
    lastTransitionTime: timestamp() as unknown as Date,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

export function waiting(container: V1Container, reason: string, message: string): V1ContainerStatus {
  return base(container, { waiting: { reason, message } });
}

export function running(container: V1Container): V1ContainerStatus {
  return { ...base(container, { running: { startedAt: timestamp() as unknown as Date } }), ready: true, started: true };
}

export function terminated(container: V1Container, exitCode: number, reason: string, message?: string): V1ContainerStatus {
  const finishedAt = timestamp() as unknown as Date;
  return base(container, { terminated: { exitCode, reason, finishedAt, ...(message ? { message } : {}) } });
}

function base(container: V1Container, state: V1ContainerStatus["state"]): V1ContainerStatus {
  return { name: container.name, image: container.image ?? "", imageID: "", ready: false, restartCount: 0, state };
}

/** Init containers that add NET_ADMIN are recorded, not run: the double's pods have no network to lock down. */
export function skippedInit(container: V1Container): V1ContainerStatus | undefined {
  if (!container.securityContext?.capabilities?.add?.includes("NET_ADMIN")) return undefined;
  return terminated(container, 0, "SkippedByDouble", "NET_ADMIN init containers are recorded, not run, by the double");
}

/**
 * Runs a pod's init containers in order, as a kubelet does: NET_ADMIN ones are
 * recorded as skipped, every other one runs to its end (`run` answers its exit
 * code, or undefined when the pod went meanwhile) with the pod Pending. Answers
 * their statuses when all succeeded; undefined when one failed (the pod is
 * reported Failed) or the pod went.
 */
export async function runInitContainers(
  spec: V1PodSpec,
  report: (phase: "Pending" | "Failed", statuses: V1ContainerStatus[]) => void,
  run: (init: V1Container) => Promise<number | undefined>,
): Promise<V1ContainerStatus[] | undefined> {
  const statuses: V1ContainerStatus[] = [];
  for (const init of spec.initContainers ?? []) {
    const skipped = skippedInit(init);
    if (skipped) {
      // Pods here run with no network at all, so there is no egress to lock down.
      statuses.push(skipped);
      continue;
    }
    report("Pending", [...statuses, running(init)]);
    const exitCode = await run(init);
    if (exitCode === undefined) return undefined;
    statuses.push(terminated(init, exitCode, exitCode === 0 ? "Completed" : "Error"));
    if (exitCode !== 0) {
      report("Failed", statuses);
      return undefined;
    }
  }
  return statuses;
}

export const DEADLINE_EXCEEDED = { reason: "DeadlineExceeded", message: "Pod was active on the node longer than the specified deadline" };

/** Writes a pod's phase and conditions (not once it is deleted) and tells the watchers. */
export function setPodStatus(
  record: PodRecord,
  touch: (record: PodRecord) => void,
  phase: string,
  conditions: V1PodCondition[],
  extra: Record<string, unknown> = {},
): void {
  if (record.deleted) return;
  record.pod.status = { ...record.pod.status, phase, conditions, ...extra };
  touch(record);
}

/**
 * Scheduling and the image "pull", as the kubelet reports them: the
 * PodScheduled condition when the pod may start, undefined when it stays
 * Pending (unschedulable, or an image that cannot be had).
 */
export async function admitPod(
  record: PodRecord,
  faults: Faults,
  imagePresent: (image: string) => Promise<boolean>,
  touch: (record: PodRecord) => void,
): Promise<V1PodCondition | undefined> {
  const spec = record.pod.spec;
  const main = spec?.containers[0];
  if (!spec || !main) return undefined;
  if (faults.unschedulable) {
    setPodStatus(record, touch, "Pending", [condition("PodScheduled", "False", "Unschedulable", faults.unschedulable)]);
    return undefined;
  }
  const scheduled = condition("PodScheduled", "True");
  for (const container of [...(spec.initContainers ?? []), main]) {
    const image = container.image ?? "";
    if (faults.isUnpullable(image) || !(await imagePresent(image))) {
      const message = `failed to pull and unpack image "${container.image}": not found`;
      setPodStatus(record, touch, "Pending", [scheduled], { containerStatuses: [waiting(main, "ErrImagePull", message)] });
      return undefined;
    }
  }
  return scheduled;
}

/** The handler of the node's default runtime: a RuntimeClass naming it runs pods as if it had none. */
export const DEFAULT_HANDLER = "runc";

/**
 * Leaves the pod Pending with its main container waiting on
 * `CreateContainerConfigError`, as a kubelet does when the pod's RuntimeClass
 * is missing or names a handler its container runtime has not configured.
 */
export function refuseHandler(record: PodRecord, touch: (record: PodRecord) => void, message: string): void {
  const main = record.pod.spec?.containers[0];
  if (!main) return;
  setPodStatus(record, touch, "Pending", [condition("PodScheduled", "True")], {
    containerStatuses: [waiting(main, "CreateContainerConfigError", message)],
  });
}
