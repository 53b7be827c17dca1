/**
 * The reap decision, once for every driver: a driver lists what it has on
 * its platform, describes each as a ReapSubject, and removes what the
 * verdict says. Policy as data (the graces below), decision as one pure
 * function, unit-tested as a table.
 */

/** A one-shot sandbox this long past its own deadline belongs to a server that is gone. */
export const ORPHAN_GRACE_SECONDS = 60;
/** A one-shot sandbox without a known deadline is an orphan after this long. */
export const ORPHAN_MAX_AGE_SECONDS = 600;
/**
 * A one-shot sandbox whose runner has exited is done: its server removes it
 * at once (after reading its exit status), so one still there this long after
 * it stopped was left by a server that is gone. A runner exits as soon as its
 * server's connection drops, so a crashed server's sandboxes stop by
 * themselves and go at the next pass.
 */
export const ENDED_GRACE_SECONDS = 5;
/** A one-shot sandbox created but never started (its server died in between), or ended at an unknown time, is an orphan after this long. */
export const CREATED_GRACE_SECONDS = 60;
/**
 * A warm sandbox (either pool) created but never started is an orphan after
 * this long: its server starts it right after the create (milliseconds), and
 * nobody waits for it. With whole-second creation times and a pass every
 * reaper interval, a crashed server's never-started warm sandboxes are gone
 * within the interval + 10 s. A reaper removes one only if it still has not
 * started (Docker refuses to remove a running container without force), so
 * one a live but slow server started meanwhile stays.
 */
export const WARM_CREATED_GRACE_SECONDS = 5;

/** What a reaper found on its platform, described for the verdict (all times unix seconds). */
export type ReapSubject =
  | {
      kind: "session";
      /** Its expiry; for a warm one (not claimed yet), its age limit. */
      expiresAt: number;
      /** Its sandbox has stopped for good, and its workspace with it. */
      ended: boolean;
      /** Made ahead of demand for the session pool and not claimed: no session yet. */
      warm: boolean;
      /**
       * Its sandbox was created at this time and has not started yet: a
       * server is starting it right now (or died in between, which only its
       * age tells). Absent: it has started (or the platform cannot say).
       */
      notStartedSince?: number;
    }
  | {
      kind: "one-shot";
      /** When it may be removed: its deadline, or for a warm one its expiry; undefined when it carries none. */
      deadline: number | undefined;
      createdAt: number;
      /** `created`: never started; `running`: started (or starting); `ended`: its runner exited. */
      state: "created" | "running" | "ended";
      /** When its runner exited, where the platform says. */
      endedAt?: number;
      /** Waiting in a warm pool, not taken. */
      warm: boolean;
    };

/** What to do with a subject, and why (for a log line). */
export type ReapVerdict =
  | { remove: false; reason: string }
  | {
      remove: true;
      reason: string;
      /** A claimed session: the engine stops its work first (`beforeRemove`), and the reaper reports its id. */
      session: boolean;
    };

/** Decides whether a reaper removes `subject` at `now` (unix seconds). */
export function reapVerdict(subject: ReapSubject, now: number): ReapVerdict {
  if (subject.kind === "session") {
    if (subject.ended) return { remove: true, reason: "its sandbox has ended", session: !subject.warm };
    if (subject.expiresAt <= now) {
      return { remove: true, reason: subject.warm ? "warm past its age limit" : "expired", session: !subject.warm };
    }
    // Not started is not ended: the server that created it starts it in a moment, unless that server died in between.
    if (subject.notStartedSince !== undefined) {
      return subject.notStartedSince + createdGrace(subject.warm) < now
        ? { remove: true, reason: "created but never started", session: !subject.warm }
        : { remove: false, reason: "starting" };
    }
    return { remove: false, reason: subject.warm ? "warm, within its age limit" : "not expired" };
  }
  const removal = (reason: string): ReapVerdict => ({ remove: true, reason, session: false });
  // Its runner saw the end of its input: the server that held it is gone (or dropped it).
  if (subject.warm && subject.state === "ended") return removal("warm, and its runner ended");
  if (subject.deadline !== undefined ? subject.deadline + ORPHAN_GRACE_SECONDS < now : subject.createdAt + ORPHAN_MAX_AGE_SECONDS < now) {
    return removal(subject.deadline !== undefined ? "past its deadline" : "old, with no deadline");
  }
  if (subject.state === "created") {
    return subject.createdAt + createdGrace(subject.warm) < now
      ? removal("created but never started")
      : { remove: false, reason: "starting" };
  }
  if (subject.state === "running") return { remove: false, reason: "running" };
  // A live server removes its own at once after reading its exit: one ended a few seconds ago is an orphan.
  if (subject.endedAt !== undefined && subject.endedAt > 0) {
    return subject.endedAt + ENDED_GRACE_SECONDS < now ? removal("ended") : { remove: false, reason: "just ended" };
  }
  return subject.createdAt + CREATED_GRACE_SECONDS < now ? removal("ended, at an unknown time") : { remove: false, reason: "just ended" };
}

/** How long a sandbox may stay created but not started: a claimed one has a request waiting on its start. */
function createdGrace(warm: boolean): number {
  return warm ? WARM_CREATED_GRACE_SECONDS : CREATED_GRACE_SECONDS;
}
