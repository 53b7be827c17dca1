import type Dockerode from "dockerode";
import { isGone } from "./engine-errors.js";
import { expiry, type SessionRecord, takeInventory } from "./session-records.js";

/** A one-shot container this long past its own deadline belongs to a server that is gone. */
const EXEC_ORPHAN_GRACE_SECONDS = 60;
/** One-shot containers without a deadline label are orphans after this long. */
const EXEC_ORPHAN_MAX_AGE_SECONDS = 600;
/**
 * A one-shot container that is no longer running is done: its server removes
 * it at once, so one still there after this long was left by a server that is
 * gone (a warm sandbox's runner exits when its server's connection drops).
 */
const EXEC_STOPPED_GRACE_SECONDS = 60;

/** Removes a container; one already gone counts as removed. */
export async function removeContainer(docker: Dockerode, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (error) {
    if (!isGone(error)) throw error;
  }
}

/** Removes a session's container and its keepalive records. */
export async function removeSession(docker: Dockerode, session: Pick<SessionRecord, "containerId" | "keepalives">): Promise<void> {
  await removeContainer(docker, session.containerId);
  await Promise.all(session.keepalives.map((id) => removeContainer(docker, id)));
}

/**
 * Removes what no one needs any more, whoever left it: sessions past their
 * expiry or whose container stopped (its tmpfs workspace is gone with it),
 * keepalive records of vanished sessions, and one-shot containers well past
 * their deadline. One failed removal does not stop the others.
 * Returns the ids of the sessions removed.
 */
export async function reap(docker: Dockerode, warn: (message: string) => void, now: number): Promise<string[]> {
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
    if (await attempt(`session ${session.id}`, () => removeSession(docker, session))) reaped.push(session.id);
  }
  for (const keepalive of inventory.orphanKeepalives) {
    await attempt(`keepalive record ${keepalive.Id}`, () => removeContainer(docker, keepalive.Id));
  }
  for (const exec of inventory.execs) {
    const deadline = expiry(exec);
    const stopped = exec.State !== "running" && exec.Created + EXEC_STOPPED_GRACE_SECONDS < now;
    const orphaned =
      stopped || (deadline > 0 ? deadline + EXEC_ORPHAN_GRACE_SECONDS < now : exec.Created + EXEC_ORPHAN_MAX_AGE_SECONDS < now);
    if (orphaned) await attempt(`one-shot container ${exec.Id}`, () => removeContainer(docker, exec.Id));
  }
  return reaped;
}
