import type Dockerode from "dockerode";
import type { ContainerInfo } from "dockerode";
import { isGone } from "./engine-errors.js";
import { type DockerSession, expiry, takeInventory } from "./session-records.js";

/** A one-shot container this long past its own deadline belongs to a server that is gone. */
const EXEC_ORPHAN_GRACE_SECONDS = 60;
/** One-shot containers without a deadline label are orphans after this long. */
const EXEC_ORPHAN_MAX_AGE_SECONDS = 600;
/**
 * A one-shot container whose runner has exited is done: its server removes it
 * at once (after reading its exit status), so one still there this long after
 * it stopped was left by a server that is gone. A runner exits as soon as its
 * server's connection drops, so a crashed server's sandboxes stop by themselves
 * and go at the next pass.
 */
const EXEC_STOPPED_GRACE_SECONDS = 5;
/** A one-shot container created but never started (its server died in between) is an orphan after this long. */
const EXEC_CREATED_GRACE_SECONDS = 60;

/** Removes a container; one already gone counts as removed. */
export async function removeContainer(docker: Dockerode, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (error) {
    if (!isGone(error)) throw error;
  }
}

/** Removes a session's container and its keepalive records. */
export async function removeSession(docker: Dockerode, session: Pick<DockerSession, "containerId" | "keepalives">): Promise<void> {
  await removeContainer(docker, session.containerId);
  await Promise.all(session.keepalives.map((id) => removeContainer(docker, id)));
}

/**
 * Removes what no one needs any more, whoever left it: sessions past their
 * expiry or whose container stopped (its tmpfs workspace is gone with it),
 * keepalive records of vanished sessions, and one-shot containers well past
 * their deadline. One failed removal does not stop the others.
 * `beforeRemove` is told a session's id before it goes. Returns the ids of the sessions removed.
 */
export async function reap(
  docker: Dockerode,
  warn: (message: string) => void,
  now: number,
  beforeRemove: (sessionId: string) => Promise<void> = async () => {},
): Promise<string[]> {
  const inventory = await takeInventory(docker);
  const reaped: string[] = [];
  const attempt = async (what: string, remove: () => Promise<void>) => {
    try {
      await remove();
      return true;
    } catch (error) {
      warn(`could not remove ${what}: ${(error as Error).message}`);
      return false;
    }
  };
  for (const session of inventory.sessions.values()) {
    const stopped = session.state === "exited" || session.state === "dead";
    if (session.expiresAt > now && !stopped) continue;
    await beforeRemove(session.id).catch(() => {});
    if (await attempt(`session ${session.id}`, () => removeSession(docker, session))) reaped.push(session.id);
  }
  // A warm session container's label is its age limit; one a crashed server left waits no longer.
  for (const warm of inventory.unclaimed) {
    if (warm.expiresAt > now && !warm.ended) continue;
    await attempt(`warm session container ${warm.id}`, () => removeSession(docker, warm));
  }
  for (const keepalive of inventory.orphanKeepalives) {
    await attempt(`keepalive record ${keepalive.Id}`, () => removeContainer(docker, keepalive.Id));
  }
  for (const exec of inventory.execs) {
    const deadline = expiry(exec);
    const orphaned =
      (await stoppedLongEnough(docker, exec, now)) ||
      (deadline > 0 ? deadline + EXEC_ORPHAN_GRACE_SECONDS < now : exec.Created + EXEC_ORPHAN_MAX_AGE_SECONDS < now);
    if (orphaned) await attempt(`one-shot container ${exec.Id}`, () => removeContainer(docker, exec.Id));
  }
  return reaped;
}

/** A one-shot container that stopped a few seconds ago (or was created long ago and never started). */
async function stoppedLongEnough(docker: Dockerode, exec: ContainerInfo, now: number): Promise<boolean> {
  if (exec.State === "running" || exec.State === "paused" || exec.State === "restarting") return false;
  if (exec.State === "created") return exec.Created + EXEC_CREATED_GRACE_SECONDS < now;
  try {
    const finishedAt = Date.parse((await docker.getContainer(exec.Id).inspect()).State.FinishedAt) / 1000;
    // Never started, or a date the engine could not give: its age decides.
    if (!Number.isFinite(finishedAt) || finishedAt <= 0) return exec.Created + EXEC_CREATED_GRACE_SECONDS < now;
    return finishedAt + EXEC_STOPPED_GRACE_SECONDS < now;
  } catch (error) {
    if (isGone(error)) return false;
    throw error;
  }
}
