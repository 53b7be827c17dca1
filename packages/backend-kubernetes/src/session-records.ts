import type { SessionRecord } from "@code-interpreter/core/engine";
import {
  APP_LABEL,
  COMPONENT_LABEL_KEY,
  EXPIRES_AT_KEY,
  isOfRuntime,
  isSessionId,
  RUNTIME_LABEL_KEY,
  type SandboxRuntime,
  TENANT_KEY,
  WARM_LABEL_KEY,
} from "@code-interpreter/core/sandbox";
import type { V1Pod } from "@kubernetes/client-node";

/**
 * A session as its pod describes it. `expiresAt` is the
 * `code-interpreter.expires-at` annotation (a missing or bad one counts as
 * expired), capped at `latestExpiry`; `ended` when the pod has stopped.
 */
export interface KubernetesSession extends SessionRecord {
  /** Pending, Running, Succeeded, Failed, Unknown. */
  phase: string;
  /** The latest expiry the kubelet allows: start + activeDeadlineSeconds. */
  latestExpiry: number;
  /** Unix seconds the kubelet counts activeDeadlineSeconds from (start, or creation). */
  startedAt: number;
  /** Made ahead of demand for the session pool and not claimed: no session (not found, not listed). */
  warm: boolean;
}

/** Label selector of every pod this service makes. */
export const APP_SELECTOR = `${APP_LABEL.key}=${APP_LABEL.value}`;
/** Label selector of session pods. */
export const SESSION_SELECTOR = `${APP_SELECTOR},${COMPONENT_LABEL_KEY}=session`;

/** Whether the pod runs on `runtime` (its runtime label; none, as on pods made before runtimes existed: `default`). */
export function podIsOfRuntime(pod: V1Pod, runtime: SandboxRuntime): boolean {
  return isOfRuntime(pod.metadata?.labels?.[RUNTIME_LABEL_KEY], runtime);
}

/**
 * The pod as a session of ours, or undefined when it is not one: wrong name,
 * or missing our labels. A warm one (`warm`) is no session yet: callers that
 * look for sessions skip it (see `isClaimed`).
 */
export function sessionRecord(pod: V1Pod): KubernetesSession | undefined {
  const id = pod.metadata?.name ?? "";
  const labels = pod.metadata?.labels ?? {};
  if (!isSessionId(id) || labels[APP_LABEL.key] !== APP_LABEL.value || labels[COMPONENT_LABEL_KEY] !== "session") return undefined;
  const phase = pod.status?.phase ?? "Unknown";
  const latest = latestExpiry(pod);
  const tenant = pod.metadata?.annotations?.[TENANT_KEY];
  return {
    id,
    expiresAt: Math.min(annotatedExpiry(pod), latest),
    phase,
    latestExpiry: latest,
    startedAt: startedAt(pod),
    warm: labels[WARM_LABEL_KEY] === "true",
    ended: hasEnded(phase),
    ...(tenant === undefined ? {} : { tenant }),
  };
}

/** The `code-interpreter.expires-at` annotation, 0 when missing or unreadable. */
export function annotatedExpiry(pod: V1Pod): number {
  const value = Number(pod.metadata?.annotations?.[EXPIRES_AT_KEY]);
  return Number.isFinite(value) ? value : 0;
}

/** A session pod's record that is a session: one of ours, not waiting in the session pool. */
export function isClaimed(session: KubernetesSession | undefined): session is KubernetesSession {
  return session !== undefined && !session.warm;
}

/** When the kubelet stops the pod: start (or creation) plus activeDeadlineSeconds; Infinity without one. */
export function latestExpiry(pod: V1Pod): number {
  const seconds = pod.spec?.activeDeadlineSeconds;
  if (!seconds) return Number.POSITIVE_INFINITY;
  return startedAt(pod) + seconds;
}

/** Unix seconds the kubelet counts activeDeadlineSeconds from: the pod's start, or its creation before that. */
function startedAt(pod: V1Pod): number {
  const start = pod.status?.startTime ?? pod.metadata?.creationTimestamp;
  return start ? Math.floor(new Date(start).getTime() / 1000) : Math.floor(Date.now() / 1000);
}

/** A pod that has stopped for good (restartPolicy Never): its memory-backed workspace is gone. */
export function hasEnded(phase: string): boolean {
  return phase === "Succeeded" || phase === "Failed";
}
