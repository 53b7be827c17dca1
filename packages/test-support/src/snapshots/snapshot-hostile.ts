import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SnapshotServer, type SnapshotSuiteOptions, snapshotClients, snapshotServerEnv } from "./snapshot-fixture.js";

/** The hostile suite's MAX_SNAPSHOT_MB: small, so the over-the-cap case writes little. */
export const SNAPSHOT_HOSTILE_CAP_MB = 1;

/**
 * What pause, resume and fork must withstand (issue 23), over HTTP against a
 * real server on the backend under test, with its directory file store
 * reachable as an attacker with access to the store would reach it:
 * `describeSnapshotHostile({ name, startServer, listLeftovers })`. A tampered
 * snapshot, another tenant, a snapshot over the cap, a pause during a fork
 * bomb and a resume racing a delete. One server for the suite.
 */
export function describeSnapshotHostile(options: SnapshotSuiteOptions): void {
  describe(`${options.name} backend snapshot hostile`, { timeout: 120_000 }, () => {
    let server: SnapshotServer;
    const { acme, globex, storedFor, leftoversOf, alter } = snapshotClients(options, () => server);
    const made = new Set<string>();
    const create = async () => {
      const id = await acme.create();
      made.add(id);
      return id;
    };

    beforeAll(async () => {
      server = await options.startServer(snapshotServerEnv({ MAX_SNAPSHOT_MB: String(SNAPSHOT_HOSTILE_CAP_MB) }));
    }, 180_000);
    afterAll(async () => {
      for (const id of made) await acme.delete(id);
      await server?.stop();
      expect(await options.listLeftovers()).toEqual([]);
    });

    it("refuses a snapshot altered in the store (422), restores nothing, and still deletes it", async () => {
      const id = await create();
      expect((await acme.bash(id, "echo secret > notes.txt")).body).toMatchObject({ exit_code: 0 });
      expect((await acme.pause(id)).status).toBe(200);

      // The record given to another tenant: its signature no longer holds, for either of them.
      const record = await alter(id, "record.json", (bytes) =>
        Buffer.from(bytes.toString("utf8").replace('"tenant":"acme"', '"tenant":"globex"')),
      );
      for (const attempt of [acme.resume(id), acme.fork(id), acme.bash(id, "cat notes.txt")]) {
        const refused = await attempt;
        expect(refused.status, JSON.stringify(refused.body)).toBe(422);
        expect(refused.body.detail).toMatch(/refused and was not restored/);
      }
      expect((await globex.resume(id)).status).not.toBeLessThan(400);
      // The list still answers, leaving out what it cannot verify.
      expect((await acme.list()).map((session) => session.session_id)).not.toContain(id);
      await alter(id, "record.json", () => record);

      // The image changed under a record that still holds.
      await alter(id, "filesystem.tar", (bytes) => Buffer.from(bytes.toString("latin1").replace("secret", "s3cret"), "latin1"));
      for (const attempt of [acme.resume(id), acme.fork(id), acme.bash(id, "cat notes.txt")]) {
        const refused = await attempt;
        expect(refused.status, JSON.stringify(refused.body)).toBe(422);
        expect(refused.body.detail).toMatch(/altered in the store/);
      }
      expect((await acme.get(id)).body).toMatchObject({ state: "paused" });
      expect(await leftoversOf(id)).toEqual([]);

      expect((await acme.delete(id)).status).toBe(204);
      expect((await acme.get(id)).status).toBe(404);
      expect(await storedFor(id)).toEqual([]);
      made.delete(id);
    });

    /** The session of the tenant case, running again at its end, which the size-cap case goes on with. */
    let tenantSession = "";

    it("answers 404 to another tenant's pause, resume, fork and commands, running or paused", async () => {
      const id = await create();
      tenantSession = id;
      expect((await acme.bash(id, "echo mine > notes.txt")).body).toMatchObject({ exit_code: 0 });
      for (const attempt of [globex.pause(id), globex.fork(id), globex.resume(id)]) expect((await attempt).status).toBe(404);
      expect((await acme.get(id)).body).toMatchObject({ state: "running" });

      expect((await acme.pause(id)).status).toBe(200);
      for (const attempt of [globex.resume(id), globex.fork(id), globex.get(id), globex.bash(id, "cat notes.txt"), globex.delete(id)]) {
        expect((await attempt).status).toBe(404);
      }
      expect((await globex.list()).map((session) => session.session_id)).not.toContain(id);
      // Still the owner's, paused, with nothing of it running.
      expect((await acme.get(id)).body).toMatchObject({ state: "paused" });
      expect(await leftoversOf(id)).toEqual([]);
      expect((await acme.bash(id, "cat notes.txt")).body).toMatchObject({ stdout: "mine\n", exit_code: 0 });
    });

    it("refuses a snapshot over MAX_SNAPSHOT_MB with the reason, and the session keeps running as it was", async () => {
      const id = tenantSession || (await create());
      const big = (SNAPSHOT_HOSTILE_CAP_MB + 1) * 1024 * 1024;
      const setUp = await acme.python(id, `import os\nopen('big.bin', 'wb').write(os.urandom(${big}))\nx = 7`);
      expect(setUp.body, JSON.stringify(setUp.body)).toMatchObject({ exit_code: 0 });
      const refused = await acme.pause(id);
      expect(refused.status, JSON.stringify(refused.body)).toBe(413);
      expect(refused.body.detail).toMatch(/MAX_SNAPSHOT_MB/);
      expect(refused.body.detail).toMatch(/keeps running/);
      expect(await storedFor(id)).toEqual([]);
      expect((await acme.get(id)).body).toMatchObject({ state: "running" });
      // The same kernel, untouched: its variable is still there, with no notice.
      expect((await acme.python(id, "x")).body).toMatchObject({ stdout: "7\n", stderr: "", exit_code: 0 });
      // Under the cap again, it pauses.
      expect((await acme.bash(id, "rm big.bin")).body).toMatchObject({ exit_code: 0 });
      expect((await acme.pause(id)).status).toBe(200);
    });

    it("pauses a session during a fork bomb, or refuses cleanly, and leaves nothing of it behind", async () => {
      const id = await create();
      expect((await acme.bash(id, "echo before > notes.txt")).body).toMatchObject({ exit_code: 0 });
      // The bomb runs until its command times out (1.5 s); the pause is sent while it runs, and takes its turn.
      const bomb = acme.bash(id, ":(){ :|:& };:; sleep 5", 1_500);
      await sleep(300);
      const [bombed, paused] = await Promise.all([bomb, acme.pause(id)]);
      expect(bombed.status, JSON.stringify(bombed.body)).toBeLessThan(500);
      if (paused.status === 200) {
        expect((await acme.get(id)).body).toMatchObject({ state: "paused" });
        // Nothing of the bomb (or its sandbox) outlives the pause.
        expect(await leftoversOf(id)).toEqual([]);
        expect((await acme.resume(id)).status).toBe(200);
      } else {
        // Refused: said as a client error with a reason, and the session is as it was.
        expect(paused.status, JSON.stringify(paused.body)).toBeLessThan(500);
        expect(paused.body.detail).toEqual(expect.any(String));
        expect(await storedFor(id)).toEqual([]);
        expect((await acme.get(id)).body).toMatchObject({ state: "running" });
      }
      expect((await acme.bash(id, "cat notes.txt")).body).toMatchObject({ stdout: "before\n", exit_code: 0 });
      expect((await acme.delete(id)).status).toBe(204);
      expect(await leftoversOf(id)).toEqual([]);
      made.delete(id);
    });

    it("ends a resume racing a delete consistent: a delete that answered 204 leaves no sandbox and no snapshot", async () => {
      // The delete is sent just after the resume, so it lands while the resume restores (core's unit tests hold each interleaving in turn).
      const id = await create();
      expect((await acme.bash(id, "echo raced > notes.txt")).body).toMatchObject({ exit_code: 0 });
      expect((await acme.pause(id)).status).toBe(200);
      const [resumed, deleted] = await Promise.all([acme.resume(id), sleep(5).then(() => acme.delete(id))]);
      const statuses = `resume ${resumed?.status} ${JSON.stringify(resumed?.body)}, delete ${deleted?.status} ${JSON.stringify(deleted?.body)}`;
      expect([200, 404], statuses).toContain(resumed?.status);
      expect([204, 404], statuses).toContain(deleted?.status);
      if (deleted?.status === 204) {
        // The delete wins whenever it came: gone, with no sandbox and no snapshot of it anywhere.
        expect((await acme.get(id)).status, statuses).toBe(404);
        expect(await leftoversOf(id), statuses).toEqual([]);
        expect(await storedFor(id), statuses).toEqual([]);
      } else {
        // The delete looked between the snapshot and the sandbox: the resume won, and the session is whole and deletable.
        expect(resumed?.status, statuses).toBe(200);
        expect((await acme.bash(id, "cat notes.txt")).body, statuses).toMatchObject({ stdout: "raced\n", exit_code: 0 });
        expect((await acme.delete(id)).status).toBe(204);
        expect(await leftoversOf(id)).toEqual([]);
        expect(await storedFor(id)).toEqual([]);
      }
      made.delete(id);
    });
  });
}
