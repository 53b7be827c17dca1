import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IDEMPOTENT_INLINE_MAX_BYTES } from "../src/middleware/idempotency.js";
import { type BackendFactory, createTestApp, json, type TestApp } from "./fixture.js";
import { readSse } from "./support/sse.js";

/** JSON POST with extra headers (an Idempotency-Key, a bearer key). */
function post(t: TestApp, path: string, body: unknown, headers: Record<string, string> = {}) {
  return t.app.request(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

/** Polls GET /v1/executions/{id} until it is no longer running. */
async function settled(t: TestApp, id: string, headers: Record<string, string> = {}, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await json(await t.app.request(`/v1/executions/${id}`, { headers }));
    if (status.status !== "running" || Date.now() > until) return status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Durable requests on a real backend, in process: Idempotency-Key, background
 * executions as resources, resumable streams, and the hostile cases (another
 * tenant's execution, a flood of background submissions, an oversized answer).
 */
export function describeDurable(name: string, createBackend: BackendFactory): void {
  describe(`durable requests on the ${name} backend`, { timeout: 120_000 }, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(
        { MAX_EXEC_TIMEOUT_MS: "20000", MAX_BACKGROUND_TIMEOUT_MS: "120000", MAX_CONCURRENT_EXECUTIONS: "4", SANDBOX_POOL_MAX: "0" },
        undefined,
        createBackend,
      );
    }, 120_000);
    afterAll(async () => {
      await t?.close();
    });

    it("runs a retried request with the same Idempotency-Key once and answers the repeat with the first answer", async () => {
      const session = await json(await post(t, "/v1/sessions", {}));
      const key = { "Idempotency-Key": randomUUID() };
      const append = { cmd: "echo appended >> log.txt; wc -l < log.txt" };
      const first = await post(t, `/v1/sessions/${session.session_id}/bash`, append, key);
      expect(first.status).toBe(200);
      const firstBody = await first.text();
      const again = await post(t, `/v1/sessions/${session.session_id}/bash`, append, key);
      expect(again.status).toBe(200);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await again.text()).toBe(firstBody);
      // Two at once with a fresh key: one runs, the other waits for its answer.
      const concurrentKey = { "Idempotency-Key": randomUUID() };
      const slow = { cmd: "sleep 1; echo appended >> log.txt" };
      const [one, two] = await Promise.all([
        post(t, `/v1/sessions/${session.session_id}/bash`, slow, concurrentKey),
        post(t, `/v1/sessions/${session.session_id}/bash`, slow, concurrentKey),
      ]);
      expect([one.status, two.status]).toEqual([200, 200]);
      expect(await one.text()).toBe(await two.text());
      const lines = await json(await post(t, `/v1/sessions/${session.session_id}/bash`, { cmd: "wc -l < log.txt" }));
      expect(lines.stdout.trim()).toBe("2");
      // One-shot executions too: the repeat is the first answer (its duration and file ids), not a second run.
      const executeKey = { "Idempotency-Key": randomUUID() };
      const code = { code: "import random\nopen('out.txt','w').write(str(random.random()))\nprint(open('out.txt').read())" };
      const executed = await json(await post(t, "/v1/execute", code, executeKey));
      // Key order and spacing do not make another body.
      const repeated = await t.app.request("/v1/execute", {
        method: "POST",
        headers: { "content-type": "application/json", ...executeKey },
        body: `{ "code" : ${JSON.stringify(code.code)} }`,
      });
      expect(await json(repeated)).toEqual(executed);
      await t.app.request(`/v1/sessions/${session.session_id}`, { method: "DELETE" });
    });

    it("answers 422 to the same key with another body or on another route, and to a malformed key", async () => {
      const key = { "Idempotency-Key": randomUUID() };
      expect((await post(t, "/v1/execute", { code: "print(1)" }, key)).status).toBe(200);
      const other = await post(t, "/v1/execute", { code: "print(2)" }, key);
      expect(other.status).toBe(422);
      expect((await json(other)).detail).toMatch(/Idempotency-Key .* different request/);
      expect((await post(t, "/v1/execute/stream", { code: "print(1)" }, key)).status).toBe(422);
      const bad = await post(t, "/v1/execute", { code: "print(1)" }, { "Idempotency-Key": "has space" });
      expect(bad.status).toBe(422);
      // A refused request does not hold its key: after the 422, the key runs the corrected request.
      const retryKey = { "Idempotency-Key": randomUUID() };
      expect((await post(t, "/v1/execute", { code: "print(1)", timeout_ms: 0 }, retryKey)).status).toBe(422);
      expect((await post(t, "/v1/execute", { code: "print(1)" }, retryKey)).status).toBe(200);
    });

    it("keeps an oversized idempotent answer in the store by reference and serves the repeat from it", async () => {
      const key = randomUUID();
      const code = { code: "print('x' * 300_000)" };
      const first = await post(t, "/v1/execute", code, { "Idempotency-Key": key });
      const body = await first.text();
      expect(body.length).toBeGreaterThan(IDEMPOTENT_INLINE_MAX_BYTES);
      const names = await t.store.records.list("idempotency/");
      const bodyRecord = names.find((entry) => entry.endsWith(".body"));
      expect(bodyRecord).toBeDefined();
      const record = JSON.parse(((await t.store.records.get(bodyRecord?.slice(0, -".body".length) ?? "")) as Buffer).toString());
      // The record names the stored answer; it does not carry it.
      expect(record).toMatchObject({ state: "done", status: 200, body_record: bodyRecord });
      expect(record.body).toBeUndefined();
      expect(JSON.stringify(record).length).toBeLessThan(1024);
      const again = await post(t, "/v1/execute", code, { "Idempotency-Key": key });
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await again.text()).toBe(body);
    });

    it("runs background executions as resources: 202, status, result, cancel, forget", async () => {
      const accepted = await post(t, "/v1/execute", { code: "import time\ntime.sleep(1)\nprint('done')", background: true });
      expect(accepted.status).toBe(202);
      const { execution_id, status_url } = await json(accepted);
      expect(execution_id).toMatch(/^exec-/);
      expect(status_url).toBe(`/v1/executions/${execution_id}`);
      const done = await settled(t, execution_id);
      expect(done).toMatchObject({ execution_id, status: "completed", kind: "execute", result: { stdout: "done\n", exit_code: 0 } });
      expect(done.finished_at).toBeGreaterThanOrEqual(done.created_at);
      // Its stream replays everything, with ids.
      const events = await readSse(await t.app.request(`/v1/executions/${execution_id}/stream`));
      expect(events.at(-1)?.event).toBe("result");
      expect(new Set(events.slice(0, -1).map((event) => event.event))).toEqual(new Set(["output"]));
      expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
      expect((await t.app.request(`/v1/executions/${execution_id}`, { method: "DELETE" })).status).toBe(204);
      expect((await t.app.request(`/v1/executions/${execution_id}`)).status).toBe(404);

      // A background run may take longer than MAX_EXEC_TIMEOUT_MS, up to MAX_BACKGROUND_TIMEOUT_MS; a cancel ends it.
      const long = await json(await post(t, "/v1/execute", { code: "import time\ntime.sleep(60)", timeout_ms: 90_000, background: true }));
      expect((await t.app.request(`/v1/executions/${long.execution_id}`, { method: "DELETE" })).status).toBe(204);
      expect(await json(await t.app.request(`/v1/executions/${long.execution_id}`))).toMatchObject({
        status: "cancelled",
        error: { detail: "Execution cancelled" },
      });
      const tooLong = await post(t, "/v1/execute", { code: "1", timeout_ms: 120_001, background: true });
      expect(tooLong.status).toBe(422);
      expect((await json(tooLong)).detail).toContain("MAX_BACKGROUND_TIMEOUT_MS");
      const foreground = await post(t, "/v1/execute", { code: "1", timeout_ms: 90_000 });
      expect((await json(foreground)).detail).toBe("timeout_ms exceeds maximum of 20000 ms (MAX_EXEC_TIMEOUT_MS)");

      // Session commands too.
      const session = await json(await post(t, "/v1/sessions", {}));
      const bash = await json(await post(t, `/v1/sessions/${session.session_id}/bash`, { cmd: "echo hi", background: true }));
      expect(await settled(t, bash.execution_id)).toMatchObject({
        status: "completed",
        kind: "session_bash",
        session_id: session.session_id,
        result: { stdout: "hi\n", exit_code: 0 },
      });
      const python = await json(await post(t, `/v1/sessions/${session.session_id}/python`, { code: "6*7", background: true }));
      expect(await settled(t, python.execution_id)).toMatchObject({
        status: "completed",
        kind: "session_python",
        result: { stdout: "42\n" },
      });
      await t.app.request(`/v1/sessions/${session.session_id}`, { method: "DELETE" });
    });

    it("resumes a stream cut after 3 events with Last-Event-ID: every event exactly once", async () => {
      const code = { code: "import time\nfor i in range(8):\n    print(f'line {i}', flush=True)\n    time.sleep(0.3)", timeout_ms: 15_000 };
      const response = await post(t, "/v1/execute/stream", code, { "Idempotency-Key": randomUUID() });
      expect(response.status).toBe(200);
      const executionId = response.headers.get("x-execution-id") as string;
      expect(executionId).toMatch(/^exec-/);
      const head = await readSse(response, 3);
      expect(head.map((event) => event.id)).toEqual(["1", "2", "3"]);
      const resumed = await t.app.request(`/v1/executions/${executionId}/stream`, { headers: { "Last-Event-ID": "3" } });
      const tail = await readSse(resumed);
      const all = [...head, ...tail];
      expect(all.map((event) => Number(event.id))).toEqual(all.map((_, index) => index + 1));
      expect(all.at(-1)?.event).toBe("result");
      const stdout = all
        .filter((event) => event.event === "output")
        .map((event) => JSON.parse(event.data).data)
        .join("");
      expect(stdout).toBe(Array.from({ length: 8 }, (_, i) => `line ${i}\n`).join(""));
      // A stream without a key still carries ids, but no execution to resume: onyx's behaviour otherwise.
      const plain = await post(t, "/v1/execute/stream", { code: "print(1)" });
      expect(plain.headers.get("x-execution-id")).toBeNull();
      const plainEvents = await readSse(plain);
      expect(plainEvents.map((event) => Number(event.id))).toEqual(plainEvents.map((_, index) => index + 1));
      expect(plainEvents.at(-1)?.event).toBe("result");
    });

    it("refuses Last-Event-ID that is not an id, and answers 404 for unknown ids", async () => {
      expect((await t.app.request(`/v1/executions/exec-${randomUUID()}`)).status).toBe(404);
      expect((await t.app.request("/v1/executions/../../etc/passwd")).status).toBe(404);
      expect((await t.app.request(`/v1/executions/exec-${randomUUID()}/stream`)).status).toBe(404);
      const accepted = await json(await post(t, "/v1/execute", { code: "1", background: true }));
      await settled(t, accepted.execution_id);
      const bad = await t.app.request(`/v1/executions/${accepted.execution_id}/stream`, { headers: { "Last-Event-ID": "x" } });
      expect(bad.status).toBe(422);
    });
  });

  describe(`durable requests on the ${name} backend, hostile`, { timeout: 180_000 }, () => {
    let t: TestApp;
    const acme = { authorization: "Bearer acme-key-0123456789abcdef" };
    const globex = { authorization: "Bearer globex-key-0123456789abcdef" };
    beforeAll(async () => {
      t = await createTestApp(
        {
          API_KEYS: "acme=acme-key-0123456789abcdef,globex=globex-key-0123456789abcdef",
          MAX_CONCURRENT_EXECUTIONS: "3",
          TENANT_MAX_CONCURRENT_EXECUTIONS: "2",
          MAX_BACKGROUND_TIMEOUT_MS: "120000",
          SANDBOX_POOL_MAX: "0",
        },
        undefined,
        createBackend,
      );
    }, 120_000);
    afterAll(async () => {
      await t?.close();
    });

    it("answers 404 for another tenant's execution (get, stream, delete) and keeps idempotency keys per tenant", async () => {
      const mine = await json(await post(t, "/v1/execute", { code: "print('acme')", background: true }, acme));
      for (const request of [
        t.app.request(`/v1/executions/${mine.execution_id}`, { headers: globex }),
        t.app.request(`/v1/executions/${mine.execution_id}/stream`, { headers: globex }),
        t.app.request(`/v1/executions/${mine.execution_id}`, { method: "DELETE", headers: globex }),
      ]) {
        const response = await request;
        expect(response.status).toBe(404);
        expect((await json(response)).detail).toContain("not found");
      }
      expect(await settled(t, mine.execution_id, acme)).toMatchObject({ status: "completed", result: { stdout: "acme\n" } });
      // The same key from another tenant is another request: it runs, and its body may differ.
      const key = randomUUID();
      const a = await json(await post(t, "/v1/execute", { code: "print('a')" }, { ...acme, "Idempotency-Key": key }));
      const g = await post(t, "/v1/execute", { code: "print('g')" }, { ...globex, "Idempotency-Key": key });
      expect(g.status).toBe(200);
      expect([a.stdout, (await json(g)).stdout]).toEqual(["a\n", "g\n"]);
    });

    it("refuses a flood of 10,000 background executions by quota: every answer is 202 or 429, every 202 is gettable", async () => {
      const accepted: string[] = [];
      const statuses = new Map<number, number>();
      const submit = async (index: number) => {
        const headers = index % 2 ? acme : globex;
        const response = await post(
          t,
          "/v1/execute",
          { code: "import time\ntime.sleep(30)", timeout_ms: 60_000, background: true },
          headers,
        );
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status === 202) accepted.push(`${index % 2}:${(await json(response)).execution_id}`);
        else expect(response.headers.get("retry-after")).toBeTruthy();
      };
      for (let start = 0; start < 10_000; start += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, offset) => submit(start + offset)));
      }
      expect([...statuses.keys()].sort()).toEqual([202, 429]);
      expect((statuses.get(202) ?? 0) + (statuses.get(429) ?? 0)).toBe(10_000);
      // At most the server's three slots, whatever the tenants' own limits.
      expect(accepted.length).toBeLessThanOrEqual(3);
      for (const entry of accepted) {
        const [tenant, id] = entry.split(":") as [string, string];
        const headers = tenant === "1" ? acme : globex;
        expect(await json(await t.app.request(`/v1/executions/${id}`, { headers }))).toMatchObject({ execution_id: id, status: "running" });
        expect((await t.app.request(`/v1/executions/${id}`, { method: "DELETE", headers })).status).toBe(204);
        expect((await json(await t.app.request(`/v1/executions/${id}`, { headers }))).status).toBe("cancelled");
      }
    });
  });
}
