import { readdir, readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type JsonAnswer, postJson, type ServerProcess, startServerProcess } from "./support/server-process.js";
import { stateDir } from "./support/temp-dirs.js";

// Pause, resume and fork (issue 23) over real HTTP, on the local backend, with snapshots in the
// directory file store: a server process as an operator runs it, with two tenants.

const ACME = "acme-key-0123456789";
const GLOBEX = "globex-key-0123456789";

describe("session snapshots on the local backend", { timeout: 240_000 }, () => {
  let server: ServerProcess;
  let files: string;
  const cleanups: (() => Promise<void>)[] = [];
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const post = (key: string, path: string, body?: unknown): Promise<JsonAnswer> =>
    body === undefined
      ? fetch(`${server.url}${path}`, { method: "POST", headers: auth(key) }).then(async (response) => ({
          status: response.status,
          headers: response.headers,
          body: await response.json(),
        }))
      : postJson(`${server.url}${path}`, body, { headers: { "content-type": "application/json", ...auth(key) } });
  const get = async (key: string, path: string): Promise<Omit<JsonAnswer, "headers">> => {
    const response = await fetch(`${server.url}${path}`, { headers: auth(key) });
    return { status: response.status, body: await response.json() };
  };
  const bodiless = (key: string, path: string) =>
    new Promise<Omit<JsonAnswer, "headers">>((resolve, reject) => {
      const request = httpRequest(`${server.url}${path}`, { method: "POST", headers: auth(key) }, (response) => {
        let text = "";
        response.on("data", (chunk) => {
          text += String(chunk);
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
      });
      request.on("error", reject);
      request.end();
    });
  const bash = (id: string, cmd: string) => post(ACME, `/v1/sessions/${id}/bash`, { cmd });

  beforeAll(async () => {
    const dir = await stateDir("ci-session-snapshots");
    cleanups.push(() => dir.remove());
    files = join(dir.path, "files");
    server = await startServerProcess({
      env: {
        EXECUTOR_BACKEND: "local",
        LOCAL_SANDBOX: process.env.CI === "true" ? "require" : "auto",
        LOCAL_STATE_DIR: join(dir.path, "local"),
        FILE_STORAGE_DIR: files,
        SANDBOX_POOL_MAX: "0",
        SESSION_POOL_MAX: "0",
        API_KEYS: `acme=${ACME},globex=${GLOBEX}`,
        SNAPSHOT_KEY: "an-operators-snapshot-key-0123456789",
        // The on_expire test waits for a reaper pass; each test keeps at most one paused session per tenant.
        REAPER_INTERVAL_SEC: "1",
        TENANT_MAX_SNAPSHOTS: "1",
      },
    });
    cleanups.push(() => server.stop());
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  });

  it("pause, resume: the file is there and the answer says a fresh kernel was started; fork: two independent copies", async () => {
    const created = await post(ACME, "/v1/sessions", { ttl_seconds: 600 });
    expect(created.status).toBe(201);
    const id = created.body.session_id as string;
    const setUp = await post(ACME, `/v1/sessions/${id}/python`, { code: "open('notes.txt', 'w').write('hello')\nx = 41" });
    expect(setUp.body, JSON.stringify(setUp.body)).toMatchObject({ exit_code: 0 });

    // Another tenant's session id is 404 for every snapshot route, as for the rest.
    for (const route of ["pause", "resume", "fork"]) expect((await post(GLOBEX, `/v1/sessions/${id}/${route}`)).status).toBe(404);

    // As `curl -X POST` sends it: no body, no Content-Length.
    const paused = await bodiless(ACME, `/v1/sessions/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ session_id: id, state: "paused", snapshot: { memory: false } });
    expect(paused.body.snapshot.bytes).toBeGreaterThan(0);
    expect((await get(ACME, `/v1/sessions/${id}`)).body).toMatchObject({ state: "paused", memory: false });
    const listed = (await get(ACME, "/v1/sessions")).body.sessions as { session_id: string; state: string }[];
    expect(listed.find((session) => session.session_id === id)?.state).toBe("paused");
    expect((await get(GLOBEX, "/v1/sessions")).body.sessions).toEqual([]);
    // Snapshots are never files: not listed, so never downloadable.
    expect((await get(ACME, "/v1/files")).body.files).toEqual([]);

    const resumed = await post(ACME, `/v1/sessions/${id}/resume`, { ttl_seconds: 300 });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ session_id: id, state: "running" });
    const next = await post(ACME, `/v1/sessions/${id}/python`, { code: "print(open('notes.txt').read())\nx + 1" });
    expect(next.body.stdout).toBe("hello\n");
    expect(next.body.stderr).toContain("a fresh Python kernel was started");
    expect(next.body.error?.name).toBe("NameError");

    const fork = await bodiless(ACME, `/v1/sessions/${id}/fork`);
    expect(fork.status).toBe(201);
    const forkId = fork.body.session_id as string;
    expect(forkId).not.toBe(id);
    expect((await bash(forkId, "echo fork >> notes.txt")).body).toMatchObject({ exit_code: 0 });
    expect((await bash(id, "echo source >> notes.txt")).body).toMatchObject({ exit_code: 0 });
    expect((await bash(forkId, "cat notes.txt")).body.stdout).toBe("hellofork\n");
    expect((await bash(id, "cat notes.txt")).body.stdout).toBe("hellosource\n");

    // A command sent to a paused session resumes it first.
    expect((await post(ACME, `/v1/sessions/${forkId}/pause`)).status).toBe(200);
    const resumedByCommand = await bash(forkId, "cat notes.txt");
    expect(resumedByCommand.body).toMatchObject({ exit_code: 0, stdout: "hellofork\n" });
    expect(resumedByCommand.body.stderr).toContain("fresh Python kernel");

    for (const session of [id, forkId])
      expect((await fetch(`${server.url}/v1/sessions/${session}`, { method: "DELETE", headers: auth(ACME) })).status).toBe(204);
  });

  it("a snapshot altered in the file store is refused with 422 and never restored", async () => {
    const id = (await post(ACME, "/v1/sessions", { ttl_seconds: 600 })).body.session_id as string;
    expect((await bash(id, "echo secret > notes.txt")).body).toMatchObject({ exit_code: 0 });
    expect((await post(ACME, `/v1/sessions/${id}/pause`)).status).toBe(200);
    const records = join(files, "records");
    const image = (await readdir(records)).find((name) => name.includes(id) && name.includes("filesystem.tar")) as string;
    const bytes = await readFile(join(records, image));
    await writeFile(join(records, image), Buffer.from(bytes.toString("latin1").replace("secret", "s3cret"), "latin1"));
    const refused = await post(ACME, `/v1/sessions/${id}/resume`);
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toMatch(/refused and was not restored/);
    const command = await bash(id, "cat notes.txt");
    expect(command.status, JSON.stringify(command.body)).toBe(422);
    expect((await get(ACME, `/v1/sessions/${id}`)).body).toMatchObject({ state: "paused" });
    expect((await fetch(`${server.url}/v1/sessions/${id}`, { method: "DELETE", headers: auth(ACME) })).status).toBe(204);
    expect((await get(ACME, `/v1/sessions/${id}`)).status).toBe(404);
  });

  it("on_expire pause: a session whose TTL runs out becomes paused, a command resumes it; past TENANT_MAX_SNAPSHOTS a pause is 429", async () => {
    const refused = await post(ACME, "/v1/sessions", { on_expire: "later" });
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toMatch(/on_expire/);
    const id = (await post(ACME, "/v1/sessions", { ttl_seconds: 2, on_expire: "pause" })).body.session_id as string;
    expect((await bash(id, "echo kept > notes.txt")).body).toMatchObject({ exit_code: 0 });
    let state: unknown;
    for (let wait = 0; wait < 60 && state !== "paused"; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      state = (await get(ACME, `/v1/sessions/${id}`)).body.state;
    }
    expect(state).toBe("paused");

    // The tenant keeps one paused session: pausing another is refused, and that one keeps running.
    const other = (await post(ACME, "/v1/sessions", { ttl_seconds: 600 })).body.session_id as string;
    const overLimit = await post(ACME, `/v1/sessions/${other}/pause`);
    expect(overLimit.status).toBe(429);
    expect(overLimit.body.detail).toMatch(/TENANT_MAX_SNAPSHOTS=1.*keeps running/);
    expect((await bash(other, "true")).body).toMatchObject({ exit_code: 0 });

    const resumed = await bash(id, "cat notes.txt");
    expect(resumed.body).toMatchObject({ exit_code: 0, stdout: "kept\n" });
    expect(resumed.body.stderr).toContain("fresh Python kernel");
    for (const session of [id, other])
      expect((await fetch(`${server.url}/v1/sessions/${session}`, { method: "DELETE", headers: auth(ACME) })).status).toBe(204);
  });
});
