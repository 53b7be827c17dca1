import { randomUUID } from "node:crypto";
import type { SessionExpiryAction } from "../backend.js";
import { BackendUnavailableError } from "../errors.js";
import type { SnapshotStorage } from "./session-snapshots.js";

/** How long a replica may hold a session's lifecycle lock: longer than any pause or resume takes; a crashed holder's lock lapses after it. */
export const SESSION_LOCK_SECONDS = 300;
/** How often a replica waiting for another's lock looks again. */
const LOCK_POLL_MS = 200;

export interface SessionLifecycleOptions {
  storage: SnapshotStorage;
  /** How long a paused session is kept (SESSION_SNAPSHOT_TTL_SECONDS): an `on_expire` record outlives its session by this much. */
  snapshotTtlSeconds: number;
  /** @default setTimeout */
  wait?: (ms: number) => Promise<void>;
}

/**
 * What every replica must agree on about a session's lifecycle (issue 23),
 * kept beside its snapshots in the shared file store's records:
 * - `lifecycle/<id>/on-expire`: what happens when its TTL runs out, written
 *   at creation (absent: delete), so the replica that reaps it (after a
 *   restart too) knows;
 * - `lifecycle/<id>/lock`: a lease, taken with the store's create-if-absent,
 *   around each pause, resume and removal, so two replicas never restore
 *   (or snapshot) one session at once.
 */
export class SessionLifecycle {
  private readonly wait: (ms: number) => Promise<void>;

  constructor(private readonly options: SessionLifecycleOptions) {
    this.wait = options.wait ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * Records what happens when the session's TTL runs out, and the lifetime
   * it was given (what a resume gives it again); `delete` (the default)
   * removes the record.
   */
  async setExpiryAction(sessionId: string, action: SessionExpiryAction, lifetimeSeconds: number): Promise<void> {
    if (action === "delete") return this.forget(sessionId);
    const value = JSON.stringify({ on_expire: action, ttl_seconds: lifetimeSeconds });
    // Kept past the session's expiry for as long as its snapshot would be: a reaper that comes late still finds it.
    await this.options.storage.put(expiryName(sessionId), value, { ttlSeconds: lifetimeSeconds + this.options.snapshotTtlSeconds });
  }

  /** A session that keeps `on_expire` "pause" through a new lifetime (extended, resumed): its record lasts as long; others have none. */
  async renew(sessionId: string, lifetimeSeconds: number): Promise<void> {
    if ((await this.expiryAction(sessionId)).action === "pause") await this.setExpiryAction(sessionId, "pause", lifetimeSeconds);
  }

  /** What happens when the session's TTL runs out (no record: `delete`), and the lifetime it was last given. */
  async expiryAction(sessionId: string): Promise<{ action: SessionExpiryAction; ttlSeconds: number }> {
    const value = await this.options.storage.get(expiryName(sessionId));
    try {
      const record = JSON.parse(value?.toString("utf8") ?? "null") as { on_expire?: unknown; ttl_seconds?: unknown } | null;
      if (record?.on_expire === "pause" && typeof record.ttl_seconds === "number")
        return { action: "pause", ttlSeconds: record.ttl_seconds };
    } catch {
      // An unreadable record is no `pause`: the session goes as every other does.
    }
    return { action: "delete", ttlSeconds: 0 };
  }

  /** Forgets the session's `on_expire` (it is deleted). */
  async forget(sessionId: string): Promise<void> {
    await this.options.storage.delete(expiryName(sessionId));
  }

  /**
   * Runs `operation` holding the session's lock: on any replica sharing the
   * store, one at a time. A replica that finds it held waits until it is
   * let go (or lapses), then runs its own, which sees what the other did.
   */
  async withLock<T>(sessionId: string, operation: () => Promise<T>): Promise<T> {
    const token = randomUUID();
    const name = lockName(sessionId);
    // A little past the lock's lifetime: a holder that crashed has its lock lapse before a waiter gives up.
    const until = Date.now() + (SESSION_LOCK_SECONDS + 30) * 1000;
    while (!(await this.options.storage.put(name, token, { ttlSeconds: SESSION_LOCK_SECONDS, ifAbsent: true }))) {
      if (Date.now() > until) {
        throw new BackendUnavailableError({
          message: `session ${JSON.stringify(sessionId)} is being paused or resumed by another replica; try again`,
        });
      }
      await this.wait(LOCK_POLL_MS);
    }
    try {
      return await operation();
    } finally {
      // Only our own: one that lapsed and was taken by another replica stays theirs.
      const held = await this.options.storage.get(name).catch(() => undefined);
      if (held?.toString("utf8") === token) await this.options.storage.delete(name).catch(() => {});
    }
  }
}

function expiryName(sessionId: string): string {
  return `lifecycle/${sessionId}/on-expire`;
}

function lockName(sessionId: string): string {
  return `lifecycle/${sessionId}/lock`;
}
