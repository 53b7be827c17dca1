import { randomUUID } from "node:crypto";
import { createTestBucket, findTestObjectStore, testStoreEnv } from "@code-interpreter/files/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, type LiveServer, startLiveServer } from "./fixture.js";
import { readSse } from "./support/sse.js";

// Two replicas (two servers on their own ports, each its own local backend and memory) sharing one
// object store: what one answers or runs, the other repeats, reports, streams and cancels.
const found = await findTestObjectStore();
if ("reason" in found && process.env.CI === "true") throw new Error(`the two-replica durable tests need an object store: ${found.reason}`);

const post = (url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });

async function settled(url: string, timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await json(await fetch(url));
    if (status.status !== "running" || Date.now() > until) return status;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

if ("store" in found) {
  describe("durable requests across two replicas over the S3 store", { timeout: 240_000 }, () => {
    let bucket: Awaited<ReturnType<typeof createTestBucket>>;
    let a: LiveServer;
    let b: LiveServer;
    beforeAll(async () => {
      bucket = await createTestBucket(found.store, "durable");
      const env = testStoreEnv(found.store, bucket.bucket, `durable-${randomUUID()}/`);
      // The servers' S3 clients read credentials through the SDK's chain, as deployed ones do.
      process.env.AWS_ACCESS_KEY_ID = env.AWS_ACCESS_KEY_ID;
      process.env.AWS_SECRET_ACCESS_KEY = env.AWS_SECRET_ACCESS_KEY;
      const settings = {
        ...env,
        LOG_LEVEL: "silent",
        SANDBOX_POOL_MAX: "0",
        SESSION_POOL_MAX: "0",
        MAX_BACKGROUND_TIMEOUT_MS: "180000",
        // One key for both: a snapshot one replica signs, the other verifies.
        SNAPSHOT_KEY: "the-replicas-snapshot-key-0123456789",
      };
      [a, b] = await Promise.all([startLiveServer(settings), startLiveServer(settings)]);
    }, 180_000);
    afterAll(async () => {
      await a?.stop();
      await b?.stop();
      await bucket?.remove();
    }, 60_000);

    it("answers a repeat on replica B with replica A's first answer, and 422 for another body", async () => {
      const key = { "Idempotency-Key": randomUUID() };
      const code = { code: "import random\nprint(random.random())" };
      const first = await post(`${a.url}/v1/execute`, code, key);
      const firstBody = await first.text();
      expect(first.status, firstBody).toBe(200);
      const repeat = await post(`${b.url}/v1/execute`, code, key);
      expect(repeat.status).toBe(200);
      expect(repeat.headers.get("idempotent-replayed")).toBe("true");
      expect(await repeat.text()).toBe(firstBody);
      expect((await post(`${b.url}/v1/execute`, { code: "print(2)" }, key)).status).toBe(422);
      // A session created on A with a key is the same session when the create is repeated on B.
      const sessionKey = { "Idempotency-Key": randomUUID() };
      const created = await json(await post(`${a.url}/v1/sessions`, { ttl_seconds: 120 }, sessionKey));
      expect(await (await post(`${b.url}/v1/sessions`, { ttl_seconds: 120 }, sessionKey)).json()).toEqual(created);
      // (Each replica here has its own local backend: the session lives on A's.)
      expect((await fetch(`${a.url}/v1/sessions/${created.session_id}`, { method: "DELETE" })).status).toBe(204);
    });

    it("pauses a session on A and resumes it on B; resumes on A and B at once restore it once", async () => {
      const { session_id: id } = await json(await post(`${a.url}/v1/sessions`, { ttl_seconds: 300 }));
      expect((await post(`${a.url}/v1/sessions/${id}/bash`, { cmd: "echo kept > notes.txt" })).status).toBe(200);
      expect((await post(`${a.url}/v1/sessions/${id}/pause`, {})).status).toBe(200);
      // The snapshot is in the shared store: B sees the session paused and resumes it (on its own local backend).
      expect(await json(await fetch(`${b.url}/v1/sessions/${id}`))).toMatchObject({ state: "paused" });
      expect((await post(`${b.url}/v1/sessions/${id}/resume`, {})).status).toBe(200);
      expect(await json(await post(`${b.url}/v1/sessions/${id}/bash`, { cmd: "cat notes.txt" }))).toMatchObject({ stdout: "kept\n" });

      // Under the session's lock in the store, one replica restores it; the other then finds no snapshot (its backend has no copy).
      expect((await post(`${b.url}/v1/sessions/${id}/pause`, {})).status).toBe(200);
      const resumes = await Promise.all([a, b].map((replica) => post(`${replica.url}/v1/sessions/${id}/resume`, {})));
      expect(resumes.map((response) => response.status).sort()).toEqual([200, 404]);
      const running = [a, b][resumes.findIndex((response) => response.status === 200)] as LiveServer;
      const states = await Promise.all([a, b].map(async (replica) => (await fetch(`${replica.url}/v1/sessions/${id}`)).status));
      expect(states.sort()).toEqual([200, 404]);
      expect((await fetch(`${running.url}/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(204);
    });

    it("keeps a 60 s background execution running after its client leaves A, and B reports, streams and collects it", async () => {
      const client = new AbortController();
      const code = "import time\nprint('started', flush=True)\ntime.sleep(60)\nprint('finished')";
      const accepted = await post(`${a.url}/v1/execute`, { code, timeout_ms: 120_000, background: true }, {}, client.signal);
      expect(accepted.status).toBe(202);
      const { execution_id } = await json(accepted);
      client.abort();
      expect(await (await fetch(`${b.url}/v1/executions/${execution_id}`)).json()).toMatchObject({ status: "running", kind: "execute" });
      // B follows the stream from the store: the first event replayed, the rest as A writes it.
      const events = await readSse(await fetch(`${b.url}/v1/executions/${execution_id}/stream`));
      expect(events.at(-1)?.event).toBe("result");
      expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
      const done = await settled(`${b.url}/v1/executions/${execution_id}`, 30_000);
      expect(done).toMatchObject({ status: "completed", result: { stdout: "started\nfinished\n", exit_code: 0, timed_out: false } });
      expect(done.finished_at - done.created_at).toBeGreaterThanOrEqual(59);
      // Resumed on B after the first event: the rest, exactly once.
      const tail = await readSse(await fetch(`${b.url}/v1/executions/${execution_id}/stream`, { headers: { "Last-Event-ID": "1" } }));
      expect(tail.map((event) => event.id)).toEqual(events.slice(1).map((event) => event.id));
      expect((await fetch(`${b.url}/v1/executions/${execution_id}`, { method: "DELETE" })).status).toBe(204);
      expect((await fetch(`${a.url}/v1/executions/${execution_id}`)).status).toBe(404);
    });

    it("cancels from B an execution running on A, and joins A's resumable stream from B", async () => {
      const { execution_id } = await json(
        await post(`${a.url}/v1/execute`, { code: "import time\ntime.sleep(50)", timeout_ms: 60_000, background: true }),
      );
      expect((await fetch(`${b.url}/v1/executions/${execution_id}`, { method: "DELETE" })).status).toBe(204);
      expect(await settled(`${a.url}/v1/executions/${execution_id}`, 20_000)).toMatchObject({ status: "cancelled" });

      const key = { "Idempotency-Key": randomUUID() };
      const code = { code: "import time\nfor i in range(5):\n    print(i, flush=True)\n    time.sleep(0.5)", timeout_ms: 20_000 };
      const first = await post(`${a.url}/v1/execute/stream`, code, key);
      const head = await readSse(first, 2);
      const joined = await post(`${b.url}/v1/execute/stream`, code, key);
      expect(joined.headers.get("x-execution-id")).toBe(first.headers.get("x-execution-id"));
      const all = await readSse(joined);
      expect(all.length, JSON.stringify({ head, all, status: joined.status })).toBeGreaterThan(2);
      expect(all.slice(0, 2)).toEqual(head);
      expect(all.at(-1)?.event).toBe("result");
      expect(all.map((event) => Number(event.id))).toEqual(all.map((_, index) => index + 1));
    });
  });
} else {
  describe.skip(`durable requests across two replicas (${found.reason})`, () => {
    it("needs an S3-compatible object store", () => {});
  });
}
