import { COMPONENT_LABEL_KEY } from "@code-interpreter/core/sandbox";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeApi } from "./kube-api.js";
import { WARM_LABEL_KEY } from "./pod-spec.js";
import { APP_SELECTOR, annotatedExpiry, hasEnded, latestExpiry, sessionRecord } from "./session-records.js";

/** A one-shot pod this long past its own deadline belongs to a server that is gone. */
const EXEC_ORPHAN_GRACE_SECONDS = 60;
/** A one-shot pod whose runner ended this long ago is no longer its server's. */
const EXEC_ENDED_GRACE_SECONDS = 5;

/**
 * Deletes what no one needs any more, whoever left it: session pods past
 * their expiry or that have ended, and one-shot pods past their deadline (or
 * ended: a live server deletes its own at once). Warm pods still waiting in a
 * pool (labelled `code-interpreter.warm=true`) are one-shot pods whose
 * expiry is their age limit; one that has ended is deleted at once: its
 * runner saw the end of its input, so the server holding it is gone (or will
 * drop it). Warm session pods (session pool, labelled warm until claimed)
 * are no sessions: one past its expiry annotation (its age limit) or ended
 * is deleted without `beforeRemove`. A pod that vanishes between
 * the list and the delete counts as gone; one failed delete does not stop the
 * others. `beforeRemove` is called with a session's id before its pod is
 * deleted. Returns the ids of the sessions removed.
 */
export async function reap(
  api: KubeApi,
  warn: (message: string) => void,
  now: number,
  beforeRemove: (sessionId: string) => Promise<void>,
): Promise<string[]> {
  const pods = await api.listPods(APP_SELECTOR);
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
    const component = pod.metadata?.labels?.[COMPONENT_LABEL_KEY];
    if (component === "session") {
      const session = sessionRecord(pod);
      if (!session) continue;
      if (session.expiresAt > now && !session.ended) continue;
      if (session.warm) {
        await attempt(name);
        continue;
      }
      await beforeRemove(name);
      if (await attempt(name)) reaped.push(name);
    } else if (component === "exec" && execOrphaned(pod, now)) {
      await attempt(name);
    }
  }
  return reaped;
}

function execOrphaned(pod: V1Pod, now: number): boolean {
  if (pod.metadata?.labels?.[WARM_LABEL_KEY] === "true" && hasEnded(pod.status?.phase ?? "")) return true;
  const deadline = Math.min(annotatedExpiry(pod) || Number.POSITIVE_INFINITY, latestExpiry(pod));
  if (deadline + EXEC_ORPHAN_GRACE_SECONDS < now) return true;
  if (!hasEnded(pod.status?.phase ?? "")) return false;
  // Its runner exited (it does as soon as its server's connection drops): a live server deletes
  // its own pod right after reading its status, so one ended a few seconds ago is an orphan.
  const finished = pod.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt;
  if (finished) return new Date(finished).getTime() / 1000 + EXEC_ENDED_GRACE_SECONDS < now;
  const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() / 1000 : now;
  return created + EXEC_ORPHAN_GRACE_SECONDS < now;
}
