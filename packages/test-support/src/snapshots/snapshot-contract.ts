import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FRESH_KERNEL_WORDS,
  type SnapshotServer,
  type SnapshotSuiteOptions,
  snapshotClients,
  snapshotServerEnv,
} from "./snapshot-fixture.js";

/**
 * What pause, resume and fork give a user (issue 23), over HTTP against a
 * real server on the backend under test: `describeSnapshotContract({ name,
 * startServer, listLeftovers })`. The kernel's memory is whatever the pause
 * answer says (`memory`): with it `x` is still 41, without it the next answer
 * says a fresh kernel was started. One server and, where the cases build on
 * each other, the same sessions for the whole suite.
 */
export function describeSnapshotContract(options: SnapshotSuiteOptions): void {
  describe(`${options.name} backend snapshot contract`, { timeout: 120_000 }, () => {
    let server: SnapshotServer;
    const { acme, storedFor, leftoversOf } = snapshotClients(options, () => server);
    /** The session the cases share: paused and resumed, then forked. */
    let id = "";
    let forkId = "";
    let memory = false;

    beforeAll(async () => {
      // A reaper pass each second: the on_expire case waits for one.
      server = await options.startServer(snapshotServerEnv({ REAPER_INTERVAL_SEC: "1" }));
    }, 180_000);
    afterAll(async () => {
      for (const session of [id, forkId]) if (session) await acme.delete(session);
      await server?.stop();
      expect(await options.listLeftovers()).toEqual([]);
    });

    it("pauses a session: its sandbox goes, its snapshot is kept, and get and list say paused", async () => {
      id = await acme.create();
      const setUp = await acme.python(id, "open('notes.txt', 'w').write('hello')\nx = 41");
      expect(setUp.body, JSON.stringify(setUp.body)).toMatchObject({ exit_code: 0 });

      const paused = await acme.pause(id);
      expect(paused.status, JSON.stringify(paused.body)).toBe(200);
      expect(paused.body).toMatchObject({ session_id: id, state: "paused", snapshot: { memory: expect.any(Boolean) } });
      expect(paused.body.snapshot.bytes).toBeGreaterThan(0);
      expect(paused.body.snapshot.created_at).toBeGreaterThan(Date.now() / 1000 - 600);
      memory = paused.body.snapshot.memory;

      expect((await acme.get(id)).body).toMatchObject({ session_id: id, state: "paused", memory, snapshot: paused.body.snapshot });
      expect((await acme.list()).find((session) => session.session_id === id)).toMatchObject({ state: "paused", memory });
      expect(await leftoversOf(id)).toEqual([]);
      // Kept beside the files, never among them: not listed, so never downloadable.
      expect((await acme.request("GET", "/v1/files")).body.files).toEqual([]);
      // A second pause answers as the first did.
      expect((await acme.pause(id)).body).toMatchObject({ session_id: id, state: "paused", snapshot: paused.body.snapshot });
    });

    it("resumes it under the same id with the file there, and x + 1 is 42 with memory or a fresh-kernel notice without", async () => {
      const resumed = await acme.resume(id);
      expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
      expect(resumed.body).toMatchObject({ session_id: id, state: "running" });
      expect(resumed.body.expires_at).toBeGreaterThan(Date.now() / 1000);
      expect((await acme.get(id)).body).toMatchObject({ session_id: id, state: "running" });
      expect(await storedFor(id)).toEqual([]);

      const next = await acme.python(id, "print(open('notes.txt').read())\nx + 1");
      if (memory) {
        expect(next.body).toMatchObject({ stdout: "hello\n42\n", exit_code: 0 });
        expect(next.body.stderr).not.toMatch(FRESH_KERNEL_WORDS);
      } else {
        expect(next.body.stdout).toBe("hello\n");
        expect(next.body.stderr).toMatch(FRESH_KERNEL_WORDS);
        expect(next.body.error?.name).toBe("NameError");
      }
      // Said once: the answer after it is as usual.
      const after = await acme.python(id, "x = 41\nx + 1");
      expect(after.body).toMatchObject({ stdout: "42\n", stderr: "", exit_code: 0 });
    });

    it("forks a running session into a copy, and the two change independently", async () => {
      const fork = await acme.fork(id);
      expect(fork.status, JSON.stringify(fork.body)).toBe(201);
      forkId = fork.body.session_id;
      expect(forkId).not.toBe(id);
      expect(fork.body.expires_at).toBeGreaterThan(Date.now() / 1000);
      expect((await acme.bash(forkId, "echo fork >> notes.txt")).body).toMatchObject({ exit_code: 0 });
      expect((await acme.bash(id, "echo source >> notes.txt")).body).toMatchObject({ exit_code: 0 });
      expect((await acme.bash(forkId, "cat notes.txt")).body).toMatchObject({ stdout: "hellofork\n", exit_code: 0 });
      expect((await acme.bash(id, "cat notes.txt")).body).toMatchObject({ stdout: "hellosource\n", exit_code: 0 });
      // Each has its own kernel: a variable set in one is not in the other.
      expect((await acme.python(forkId, "y = 'fork'")).body).toMatchObject({ exit_code: 0 });
      expect((await acme.python(id, "'y' in globals()")).body.stdout).toBe("False\n");
    });

    it("forks a paused session, which stays paused until a command resumes it", async () => {
      expect((await acme.pause(forkId)).status).toBe(200);
      const fork = await acme.fork(forkId);
      expect(fork.status, JSON.stringify(fork.body)).toBe(201);
      const second = fork.body.session_id as string;
      try {
        expect((await acme.get(forkId)).body).toMatchObject({ state: "paused" });
        expect((await acme.bash(second, "cat notes.txt")).body).toMatchObject({ stdout: "hellofork\n", exit_code: 0 });
        // A command sent to a paused session resumes it first.
        const command = await acme.bash(forkId, "cat notes.txt");
        expect(command.body).toMatchObject({ stdout: "hellofork\n", exit_code: 0 });
        expect((await acme.get(forkId)).body).toMatchObject({ state: "running" });
        const listed = await acme.list();
        for (const session of [id, forkId, second]) expect(listed.find((each) => each.session_id === session)?.state).toBe("running");
      } finally {
        expect((await acme.delete(second)).status).toBe(204);
      }
    });

    it("pauses a session made with on_expire pause when its TTL runs out, and a command resumes it with its file", async () => {
      const expiring = await acme.create({ ttl_seconds: 3, on_expire: "pause" });
      try {
        const setUp = await acme.python(expiring, "open('kept.txt', 'w').write('kept')\ny = 6");
        expect(setUp.body, JSON.stringify(setUp.body)).toMatchObject({ exit_code: 0 });
        // The reaper pauses it (bounded wait: a busy engine may take a while to snapshot it).
        let seen: { state?: string; memory?: boolean } = {};
        for (let attempt = 0; attempt < 90 && seen.state !== "paused"; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          seen = (await acme.get(expiring)).body ?? {};
        }
        expect(seen.state).toBe("paused");
        expect(await leftoversOf(expiring)).toEqual([]);
        const command = await acme.python(expiring, "print(open('kept.txt').read())\ny * 7");
        // With memory y is still 6; without it the answer says a fresh kernel was started (and y is gone).
        if (seen.memory) expect(command.body).toMatchObject({ stdout: "kept\n42\n" });
        else {
          expect(command.body.stdout).toBe("kept\n");
          expect(command.body.stderr).toMatch(FRESH_KERNEL_WORDS);
        }
      } finally {
        await acme.delete(expiring);
      }
    });

    it("deletes a paused session with its snapshot", async () => {
      expect((await acme.pause(id)).status).toBe(200);
      expect((await storedFor(id)).length).toBeGreaterThan(0);
      expect((await acme.delete(id)).status).toBe(204);
      expect((await acme.get(id)).status).toBe(404);
      expect((await acme.resume(id)).status).toBe(404);
      expect(await storedFor(id)).toEqual([]);
      id = "";
    });
  });
}
