import type { V1Pod } from "@kubernetes/client-node";

/** RFC 1123 subdomain: pod and RuntimeClass names. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** RFC 1123 label: container names, RuntimeClass handlers. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What the API server would refuse in a new pod (422), as `field: message` causes; empty when valid. */
export function validatePod(pod: V1Pod): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const name = pod.metadata?.name;
  if (!name) problems.push({ field: "metadata.name", message: "Required value: name or generateName is required" });
  else if (!DNS_SUBDOMAIN.test(name))
    problems.push({ field: "metadata.name", message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain` });
  const containers = pod.spec?.containers ?? [];
  if (containers.length === 0) problems.push({ field: "spec.containers", message: "Required value" });
  for (const [index, container] of [...containers, ...(pod.spec?.initContainers ?? [])].entries()) {
    if (!container.name || !DNS_LABEL.test(container.name))
      problems.push({ field: `spec.containers[${index}].name`, message: "Invalid value" });
    if (!container.image) problems.push({ field: `spec.containers[${index}].image`, message: "Required value" });
  }
  for (const [key, value] of Object.entries({ ...pod.metadata?.labels })) {
    if (typeof value !== "string" || value.length > 63) problems.push({ field: `metadata.labels.${key}`, message: "Invalid value" });
  }
  for (const [key, value] of Object.entries({ ...pod.metadata?.annotations })) {
    if (typeof value !== "string") problems.push({ field: `metadata.annotations.${key}`, message: "Invalid value: must be a string" });
  }
  const deadline = pod.spec?.activeDeadlineSeconds;
  if (deadline !== undefined && (!Number.isInteger(deadline) || deadline <= 0)) {
    problems.push({ field: "spec.activeDeadlineSeconds", message: "Invalid value: must be a positive integer" });
  }
  return problems;
}

/**
 * Checks a patched pod against the original: the API server lets a running
 * pod's `activeDeadlineSeconds` only be set or decreased, and its containers
 * not change at all.
 */
export function validatePodUpdate(before: V1Pod, after: V1Pod): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const old = before.spec?.activeDeadlineSeconds;
  const next = after.spec?.activeDeadlineSeconds;
  if (old !== undefined && (next === undefined || next > old)) {
    problems.push({ field: "spec.activeDeadlineSeconds", message: "Invalid value: must be less than or equal to the previous value" });
  }
  if (JSON.stringify(before.spec?.containers) !== JSON.stringify(after.spec?.containers)) {
    problems.push({
      field: "spec",
      message: "Forbidden: pod updates may not change fields other than activeDeadlineSeconds, tolerations, …",
    });
  }
  return problems;
}
