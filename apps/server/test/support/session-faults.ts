import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BackendFactory, createTestApp, json, postJson, type TestApp } from "../fixture.js";
import { waitFor } from "./server-process.js";

/**
 * Races around sessions and staged files, against a real backend: whatever
 * the interleaving, every answer is a clean status (never 500) and nothing is
 * left behind. `leftovers` lists the backend's sandboxes still there.
 */
export function describeSessionFaults(name: string, createBackend: BackendFactory, leftovers: () => Promise<unknown[]>): void {
  describe(`session and file races on the ${name} backend`, { timeout: 120_000 }, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ MAX_EXEC_TIMEOUT_MS: "30000", SANDBOX_POOL_MAX: "0" }, undefined, createBackend);
    });
    afterAll(async () => {
      await t?.close();
    });

    const newSession = async (ttl_seconds = 300) => {
      const response = await postJson(t.app, "/v1/sessions", { ttl_seconds });
      expect(response.status).toBe(201);
      return (await json(response)).session_id as string;
    };

    it("runs concurrent commands of one session one after another, never interleaved", async () => {
      const id = await newSession();
      const step = (n: number) => `echo start-${n} >> log.txt; sleep 0.3; echo end-${n} >> log.txt`;
      const answers = await Promise.all([1, 2, 3, 4].map((n) => postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: step(n) })));
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      // A python cell queued among them waits its turn too.
      const [python, last] = await Promise.all([
        postJson(t.app, `/v1/sessions/${id}/python`, { code: "open('log.txt','a').write('start-py\\nend-py\\n')\nNone" }),
        postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: step(5) }),
      ]);
      expect([python.status, last.status]).toEqual([200, 200]);
      const log = (await json(await postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: "cat log.txt" }))).stdout as string;
      const lines = log.trim().split("\n");
      expect(lines).toHaveLength(12);
      for (let i = 0; i < lines.length; i += 2) {
        expect(lines[i]).toMatch(/^start-/);
        expect(lines[i + 1]).toBe(lines[i]?.replace("start-", "end-"));
      }
      await t.app.request(`/v1/sessions/${id}`, { method: "DELETE" });
    });

    it("answers a command cleanly when its session is deleted while it runs", async () => {
      const id = await newSession();
      const command = postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: "sleep 20", timeout_ms: 30_000 });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await t.app.request(`/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(204);
      const answer = await command;
      const body = await json(answer);
      expect([200, 404], JSON.stringify(body)).toContain(answer.status);
      expect((await t.app.request(`/v1/sessions/${id}`)).status).toBe(404);
      expect((await postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: "true" })).status).toBe(404);
    });

    it("answers a command cleanly when the session expires and is reaped while it runs", async () => {
      const id = await newSession(2);
      const command = postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: "sleep 20", timeout_ms: 30_000 });
      // The reaper, racing with the command, removes the session once its TTL is past.
      await waitFor("the session to be reaped", async () => (await t.backend.reapExpiredSessions()).includes(id), 30_000, 500);
      const answer = await command;
      const body = await json(answer);
      expect([200, 404], JSON.stringify(body)).toContain(answer.status);
      expect((await t.app.request(`/v1/sessions/${id}`)).status).toBe(404);
      const late = await postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: "true" });
      expect(late.status).toBe(404);
      expect((await json(late)).detail).toContain(id);
    });

    it("refuses a command on a session whose TTL has passed, even before the reaper ran", async () => {
      const id = await newSession(1);
      await new Promise((resolve) => setTimeout(resolve, 2100));
      const answer = await postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: "echo too late" });
      expect(answer.status).toBe(404);
    });

    it("answers 404 and starts nothing when a staged file disappears after it was looked up", async () => {
      const form = new FormData();
      form.append("file", new Blob(["gone soon"]), "in.txt");
      const { file_id } = await json(await t.app.request("/v1/files", { method: "POST", body: form }));
      // What a DELETE racing the staging leaves: the lookup succeeds, the bytes are gone.
      await rm(join(t.config.FILE_STORAGE_DIR, `${file_id}.bin`));
      const execute = await postJson(t.app, "/v1/execute", { code: "print(open('in.txt').read())", files: [{ path: "in.txt", file_id }] });
      expect(execute.status).toBe(404);
      expect((await json(execute)).detail).toContain(file_id);
      const session = await postJson(t.app, "/v1/sessions", { files: [{ path: "in.txt", file_id }] });
      expect(session.status).toBe(404);
      expect(await leftovers()).toEqual([]);
    });

    it("leaves no sandbox behind", async () => {
      expect((await t.backend.listSessions()).length).toBe(0);
      expect(await leftovers()).toEqual([]);
    });
  });
}
