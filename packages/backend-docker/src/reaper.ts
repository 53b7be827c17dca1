import { type ReapSubject, reapVerdict } from "@code-interpreter/core/engine";
import type { SandboxRuntime } from "@code-interpreter/core/sandbox";
import type Dockerode from "dockerode";
import type { ContainerInfo } from "dockerode";
import { WARM_LABEL_KEY } from "./container-spec.js";
import { engineStatus, isGone } from "./engine-errors.js";
import { type DockerSession, expiry, takeInventory } from "./session-records.js";

/** Removes a container; one already gone counts as removed. */
export async function removeContainer(docker: Dockerode, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (error) {
    if (!isGone(error)) throw error;
  }
}

/**
 * Removes a container that has not started, and only then: without force the
 * engine refuses to remove a running one (409), so a container its (live,
 * slow) server started since the reaper listed it stays. Returns whether it
 * is gone.
 */
export async function removeUnstarted(docker: Dockerode, id: string): Promise<boolean> {
  try {
    await docker.getContainer(id).remove({ v: true });
    return true;
  } catch (error) {
    if (isGone(error)) return true;
    if (engineStatus(error) === 409) return false;
    throw error;
  }
}

/** Removes a session's container and its keepalive records. */
export async function removeSession(docker: Dockerode, session: Pick<DockerSession, "containerId" | "keepalives">): Promise<void> {
  await removeContainer(docker, session.containerId);
  await Promise.all(session.keepalives.map((id) => removeContainer(docker, id)));
}

/**
 * Removes what no one needs any more, whoever left it, as core's
 * `reapVerdict` decides: sessions past their expiry or whose container
 * stopped (its tmpfs workspace is gone with it), warm session containers
 * past their age limit, and one-shot containers well past their deadline or
 * stopped; and keepalive records of vanished sessions. A container
 * condemned as created but never started (its server died between the two;
 * a warm one goes after a shorter grace) is removed only if it still has not
 * started (`removeUnstarted`). One failed removal
 * does not stop the others. Only containers of `runtime` (see takeInventory). `beforeRemove` is told a session's id before it
 * goes. Returns the ids of the sessions removed.
 */
export async function reap(
  docker: Dockerode,
  runtime: SandboxRuntime,
  warn: (message: string) => void,
  now: number,
  beforeRemove: (sessionId: string) => Promise<void> = async () => {},
): Promise<string[]> {
  const inventory = await takeInventory(docker, runtime);
  const reaped: string[] = [];
  const attempt = async (what: string, remove: () => Promise<unknown>) => {
    try {
      // false: the container started meanwhile and stays (removeUnstarted).
      return (await remove()) !== false;
    } catch (error) {
      warn(`could not remove ${what}: ${(error as Error).message}`);
      return false;
    }
  };
  // A claimed warm container keeps its warm label (labels cannot change): what makes it a session is its keepalive record.
  const sessions = [
    ...[...inventory.sessions.values()].map((session) => ({ session, warm: false })),
    ...inventory.unclaimed.map((session) => ({ session, warm: true })),
  ];
  for (const { session, warm } of sessions) {
    const notStartedSince = session.state === "created" ? session.createdAt : undefined;
    const verdict = reapVerdict({ kind: "session", expiresAt: session.expiresAt, ended: session.ended, warm, notStartedSince }, now);
    if (!verdict.remove) continue;
    if (verdict.session) await beforeRemove(session.id).catch(() => {});
    const what = verdict.session ? `session ${session.id}` : `warm session container ${session.id}`;
    // Condemned as never started: removed only if it still has not (it has no keepalive record yet).
    const remove = () => (notStartedSince === undefined ? removeSession(docker, session) : removeUnstarted(docker, session.containerId));
    if ((await attempt(what, remove)) && verdict.session) reaped.push(session.id);
  }
  for (const keepalive of inventory.orphanKeepalives) {
    await attempt(`keepalive record ${keepalive.Id}`, () => removeContainer(docker, keepalive.Id));
  }
  for (const exec of inventory.execs) {
    const subject = await oneShotSubject(docker, exec);
    if (!subject || !reapVerdict(subject, now).remove) continue;
    await attempt(`one-shot container ${exec.Id}`, () =>
      subject.kind === "one-shot" && subject.state === "created" ? removeUnstarted(docker, exec.Id) : removeContainer(docker, exec.Id),
    );
  }
  return reaped;
}

/** A one-shot container as the verdict reads it; undefined when it vanished meanwhile. */
async function oneShotSubject(docker: Dockerode, exec: ContainerInfo): Promise<ReapSubject | undefined> {
  const deadline = expiry(exec);
  const subject = {
    kind: "one-shot" as const,
    deadline: deadline > 0 ? deadline : undefined,
    createdAt: exec.Created,
    warm: exec.Labels[WARM_LABEL_KEY] === "true",
  };
  if (exec.State === "running" || exec.State === "paused" || exec.State === "restarting") return { ...subject, state: "running" };
  if (exec.State === "created") return { ...subject, state: "created" };
  try {
    const finishedAt = Date.parse((await docker.getContainer(exec.Id).inspect()).State.FinishedAt) / 1000;
    // Never started, or a date the engine could not give: its age decides.
    return { ...subject, state: "ended", ...(Number.isFinite(finishedAt) && finishedAt > 0 ? { endedAt: finishedAt } : {}) };
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
}
