import { type ReapSubject, reapVerdict } from "@code-interpreter/core/engine";
import { COMPONENT_LABEL_KEY, type SandboxRuntime, WARM_LABEL_KEY } from "@code-interpreter/core/sandbox";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeApi } from "./kube-api.js";
import { APP_SELECTOR, annotatedExpiry, hasEnded, latestExpiry, podIsOfRuntime, sessionRecord } from "./session-records.js";

/**
 * Deletes what no one needs any more, whoever left it, as core's
 * `reapVerdict` decides: session pods past their expiry or that have ended,
 * warm session pods (labelled warm until claimed: no sessions) past their age
 * limit, and one-shot pods past their deadline or ended (a live server
 * deletes its own at once; a warm one that ended is deleted at once: its
 * runner saw the end of its input, so the server holding it is gone). A pod
 * that vanishes between the list and the delete counts as gone; one failed
 * delete does not stop the others. `beforeRemove` is called with a session's
 * id before its pod is deleted. Only pods of `runtime` are touched: the other
 * runtime's backend of the same server reaps its own. Returns the ids of the sessions removed.
 */
export async function reap(
  api: KubeApi,
  runtime: SandboxRuntime,
  warn: (message: string) => void,
  now: number,
  beforeRemove: (sessionId: string) => Promise<void>,
): Promise<string[]> {
  const pods = (await api.listPods(APP_SELECTOR)).filter((pod) => podIsOfRuntime(pod, runtime));
  const reaped: string[] = [];
  const attempt = async (name: string) => {
    try {
      await api.deletePod(name);
      return true;
    } catch (error) {
      warn(`could not delete the pod ${name}: ${(error as Error).message}`);
      return false;
    }
  };
  for (const pod of pods) {
    const name = pod.metadata?.name ?? "";
    const subject = reapSubject(pod);
    if (!subject) continue;
    const verdict = reapVerdict(subject, now);
    if (!verdict.remove) continue;
    if (verdict.session) await beforeRemove(name);
    if ((await attempt(name)) && verdict.session) reaped.push(name);
  }
  return reaped;
}

/** A pod as the verdict reads it; undefined for one that is neither a session nor a one-shot pod of ours. */
function reapSubject(pod: V1Pod): ReapSubject | undefined {
  const component = pod.metadata?.labels?.[COMPONENT_LABEL_KEY];
  if (component === "session") {
    const session = sessionRecord(pod);
    return session && { kind: "session", expiresAt: session.expiresAt, ended: session.ended, warm: session.warm };
  }
  if (component !== "exec") return undefined;
  const deadline = Math.min(annotatedExpiry(pod) || Number.POSITIVE_INFINITY, latestExpiry(pod));
  const finished = pod.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt;
  const created = pod.metadata?.creationTimestamp;
  return {
    kind: "one-shot",
    deadline: Number.isFinite(deadline) ? deadline : undefined,
    createdAt: created ? new Date(created).getTime() / 1000 : Number.POSITIVE_INFINITY,
    // A pod still pending is starting: the kubelet's deadline bounds it.
    state: hasEnded(pod.status?.phase ?? "") ? "ended" : "running",
    ...(finished ? { endedAt: new Date(finished).getTime() / 1000 } : {}),
    warm: pod.metadata?.labels?.[WARM_LABEL_KEY] === "true",
  };
}
