import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FRESH_KERNEL_WORDS,
  type SnapshotServer,
  type SnapshotSuiteOptions,
  snapshotClients,
  snapshotServerEnv,
} from "./snapshot-fixture.js";

/** A store both replicas share (an S3 bucket), as `startServer`'s extra environment; `remove()` deletes it. */
export interface SharedSnapshotStore {
  env: Record<string, string>;
  remove(): Promise<void>;
}

/** Options of describeSnapshotReplicas: the suite's, and the shared store the two replicas use. */
export interface SnapshotReplicaOptions extends SnapshotSuiteOptions {
  /** Makes a fresh shared store (e.g. an S3 bucket) whose environment both servers get. */
  sharedStore: () => Promise<SharedSnapshotStore>;
}

/**
 * Issue 23's "resume on any replica": two servers on the backend under test
 * sharing one file store (the S3 store) and one signing key. A session
 * paused on replica A resumes on replica B with its workspace, and with its
 * kernel's memory or the fresh-kernel notice, as the pause answer said.
 */
export function describeSnapshotReplicas(options: SnapshotReplicaOptions): void {
  describe(`${options.name} backend snapshots across two replicas over a shared store`, { timeout: 180_000 }, () => {
    let a: SnapshotServer | undefined;
    let b: SnapshotServer | undefined;
    let store: SharedSnapshotStore | undefined;
    const onA = snapshotClients(options, () => a as SnapshotServer).acme;
    const onB = snapshotClients(options, () => b as SnapshotServer).acme;
    let id = "";

    beforeAll(async () => {
      store = await options.sharedStore();
      const env = snapshotServerEnv(store.env);
      [a, b] = await Promise.all([options.startServer(env), options.startServer(env)]);
    }, 240_000);
    afterAll(async () => {
      if (id && b) await onB.delete(id);
      await Promise.all([a?.stop(), b?.stop()]);
      await store?.remove();
      expect(await options.listLeftovers()).toEqual([]);
    }, 120_000);

    it("pauses a session on replica A and resumes it on replica B with its file, and x + 1 is 42 with memory or a fresh-kernel notice without", async () => {
      id = await onA.create();
      const setUp = await onA.python(id, "open('notes.txt', 'w').write('hello')\nx = 41");
      expect(setUp.body, JSON.stringify(setUp.body)).toMatchObject({ exit_code: 0 });
      const paused = await onA.pause(id);
      expect(paused.status, JSON.stringify(paused.body)).toBe(200);
      const memory = paused.body.snapshot.memory as boolean;

      // B knows it only from the shared store.
      expect((await onB.get(id)).body).toMatchObject({ session_id: id, state: "paused", memory });
      const resumed = await onB.resume(id);
      expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
      expect(resumed.body).toMatchObject({ session_id: id, state: "running" });

      const next = await onB.python(id, "print(open('notes.txt').read())\nx + 1");
      if (memory) {
        expect(next.body).toMatchObject({ stdout: "hello\n42\n", exit_code: 0 });
      } else {
        expect(next.body.stdout).toBe("hello\n");
        expect(next.body.stderr).toMatch(FRESH_KERNEL_WORDS);
      }
      // Both replicas now see it running.
      expect((await onA.get(id)).body).toMatchObject({ session_id: id, state: "running" });
    });
  });
}
