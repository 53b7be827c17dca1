import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey, KeyRing } from "../src/auth/key-ring.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { createLogger } from "../src/observability/logger.js";
import { startServer } from "../src/server.js";
import { createTestApp, json, liveServerEnv, type TestApp } from "./fixture.js";

const ACME = "acme-key-0123456789";
const GLOBEX = "globex-key-0123456789";
const OPS = "ops-admin-key-0123456789";

describe("API keys and tenants", () => {
  let test: TestApp;
  const call = (key: string | undefined, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (key) headers.set("authorization", `Bearer ${key}`);
    if (init.json !== undefined) headers.set("content-type", "application/json");
    return test.app.request(path, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
  };
  const upload = (key: string, content: string | Uint8Array, name = "data.txt") => {
    const form = new FormData();
    form.append("file", new Blob([content]), name);
    return call(key, "/v1/files", { method: "POST", body: form });
  };

  beforeAll(async () => {
    test = await createTestApp({
      API_KEYS: `acme=${ACME},globex=sha256:${hashKey(GLOBEX)}`,
      ADMIN_API_KEYS: `ops=${OPS}`,
      TENANT_MAX_CONCURRENT_EXECUTIONS: "1",
      TENANT_MAX_SESSIONS: "2",
      TENANT_MAX_STORED_MB: "1",
    });
  });
  afterAll(() => test?.close());

  it("refuses requests without a valid key, with 401 and WWW-Authenticate", async () => {
    for (const key of [undefined, "wrong-key-0123456789"]) {
      const response = await call(key, "/v1/execute", { method: "POST", json: { code: "print(1)" } });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toContain("Bearer");
      expect((await json(response)).detail).toMatch(/API key/);
    }
    expect((await call(undefined, "/v1/files")).status).toBe(401);
    const basic = await test.app.request("/v1/files", { headers: { authorization: `Basic ${btoa(`x:${ACME}`)}` } });
    expect(basic.status).toBe(401);
  });

  it("leaves /health and the API description open, and /metrics to admin keys", async () => {
    expect((await call(undefined, "/health")).status).toBe(200);
    const document = await json(await call(undefined, "/openapi.json"));
    expect(document.components.securitySchemes.apiKey).toMatchObject({ type: "http", scheme: "bearer" });
    expect(document.paths["/v1/execute"].post.security).toEqual([{ apiKey: [] }]);
    expect(document.paths["/v1/execute"].post.responses["401"]).toBeDefined();
    expect(document.paths["/health"].get.security).toBeUndefined();
    expect((await call(undefined, "/docs")).status).toBe(200);
    expect((await call(ACME, "/metrics")).status).toBe(403);
    expect((await call(OPS, "/metrics")).status).toBe(200);
  });

  it("runs code for a valid key (plain or configured by its hash)", async () => {
    for (const key of [ACME, GLOBEX]) {
      const response = await call(key, "/v1/execute", { method: "POST", json: { code: "print(2 + 2)" } });
      expect(response.status).toBe(200);
      expect((await json(response)).stdout).toBe("4\n");
    }
  });

  it("keeps each tenant's files to itself: others get 404 and never see them listed", async () => {
    const mine = await json(await upload(ACME, "acme secret"));
    const listed = async (key: string) => (await json(await call(key, "/v1/files"))).files.map((file: { file_id: string }) => file.file_id);
    expect(await listed(ACME)).toContain(mine.file_id);
    expect(await listed(GLOBEX)).not.toContain(mine.file_id);
    expect(await listed(OPS)).toContain(mine.file_id);
    expect((await json(await call(ACME, "/v1/files"))).files[0]).not.toHaveProperty("tenant");
    expect((await call(GLOBEX, `/v1/files/${mine.file_id}`)).status).toBe(404);
    expect((await call(GLOBEX, `/v1/files/${mine.file_id}`, { method: "DELETE" })).status).toBe(404);
    const staged = await call(GLOBEX, "/v1/execute", {
      method: "POST",
      json: { code: "print(open('x').read())", files: [{ path: "x", file_id: mine.file_id }] },
    });
    expect(staged.status).toBe(404);
    expect(await (await call(ACME, `/v1/files/${mine.file_id}`)).text()).toBe("acme secret");
    expect(await (await call(OPS, `/v1/files/${mine.file_id}`)).text()).toBe("acme secret");
    expect((await call(ACME, `/v1/files/${mine.file_id}`, { method: "DELETE" })).status).toBe(204);
  });

  it("keeps each tenant's sessions to itself: every session route answers 404 to another tenant", async () => {
    const session = await json(await call(ACME, "/v1/sessions", { method: "POST", json: {} }));
    try {
      const id = session.session_id;
      expect((await call(ACME, `/v1/sessions/${id}/bash`, { method: "POST", json: { cmd: "echo hi > note.txt; echo ok" } })).status).toBe(
        200,
      );
      const others = [
        call(GLOBEX, `/v1/sessions/${id}`),
        call(GLOBEX, `/v1/sessions/${id}/bash`, { method: "POST", json: { cmd: "cat note.txt" } }),
        call(GLOBEX, `/v1/sessions/${id}/python`, { method: "POST", json: { code: "1" } }),
        call(GLOBEX, `/v1/sessions/${id}/python/stream`, { method: "POST", json: { code: "1" } }),
        call(GLOBEX, `/v1/sessions/${id}/keepalive`, { method: "POST", json: { ttl_seconds: 60 } }),
        call(GLOBEX, `/v1/sessions/${id}/files`),
        call(GLOBEX, `/v1/sessions/${id}/files/note.txt`),
        call(GLOBEX, `/v1/sessions/${id}`, { method: "DELETE" }),
      ];
      for (const response of await Promise.all(others)) expect(response.status).toBe(404);
      const ids = async (key: string) =>
        (await json(await call(key, "/v1/sessions"))).sessions.map((s: { session_id: string }) => s.session_id);
      expect(await ids(GLOBEX)).not.toContain(id);
      expect(await ids(ACME)).toContain(id);
      expect(await ids(OPS)).toContain(id);
      expect(await (await call(ACME, `/v1/sessions/${id}/files/note.txt`)).text()).toBe("hi\n");
      expect((await call(OPS, `/v1/sessions/${id}`)).status).toBe(200);
    } finally {
      expect((await call(ACME, `/v1/sessions/${session.session_id}`, { method: "DELETE" })).status).toBe(204);
    }
  });

  it("limits live sessions per tenant with 429 and Retry-After, leaving other tenants alone", async () => {
    const created: [string, string][] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const response = await call(ACME, "/v1/sessions", { method: "POST", json: {} });
        expect(response.status).toBe(201);
        created.push([ACME, (await json(response)).session_id]);
      }
      const refused = await call(ACME, "/v1/sessions", { method: "POST", json: {} });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await json(refused)).detail).toContain("TENANT_MAX_SESSIONS");
      const other = await call(GLOBEX, "/v1/sessions", { method: "POST", json: {} });
      expect(other.status).toBe(201);
      created.push([GLOBEX, (await json(other)).session_id]);
    } finally {
      for (const [key, id] of created) await call(key, `/v1/sessions/${id}`, { method: "DELETE" });
    }
  });

  it("limits executions at once per tenant with 429 and Retry-After, leaving other tenants alone", async () => {
    const slow = call(ACME, "/v1/execute", { method: "POST", json: { code: "import time; time.sleep(1.5)", timeout_ms: 10_000 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const refused = await call(ACME, "/v1/execute", { method: "POST", json: { code: "print(1)" } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeTruthy();
    expect((await json(refused)).detail).toContain("TENANT_MAX_CONCURRENT_EXECUTIONS");
    const other = await call(GLOBEX, "/v1/execute", { method: "POST", json: { code: "print(1)" } });
    expect(other.status).toBe(200);
    expect((await slow).status).toBe(200);
  });

  it("limits stored bytes per tenant with 429 and Retry-After, leaving other tenants alone", async () => {
    const big = await json(await upload(ACME, new Uint8Array(1024 * 1024), "big.bin"));
    try {
      const refused = await upload(ACME, "one more");
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBeTruthy();
      expect((await json(refused)).detail).toContain("TENANT_MAX_STORED_MB");
      const other = await upload(GLOBEX, "fine");
      expect(other.status).toBe(201);
      await call(GLOBEX, `/v1/files/${(await json(other)).file_id}`, { method: "DELETE" });
    } finally {
      await call(ACME, `/v1/files/${big.file_id}`, { method: "DELETE" });
    }
  });
});

describe("key configuration", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ci-keys-"));
    await chmod(dir, 0o711);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("reads hashed keys from a file, with admin flags", async () => {
    const file = join(dir, "keys.json");
    await writeFile(
      file,
      JSON.stringify({
        keys: [
          { tenant: "acme", sha256: hashKey(ACME) },
          { tenant: "ops", sha256: hashKey(OPS), admin: true },
        ],
      }),
    );
    const ring = KeyRing.load({ API_KEYS_FILE: file });
    expect(ring.size).toBe(2);
    expect(ring.authenticate(ACME)).toEqual({ tenant: "acme", admin: false });
    expect(ring.authenticate(OPS)).toEqual({ tenant: "ops", admin: true });
    expect(ring.authenticate(hashKey(ACME))).toBeUndefined();
  });

  it("names the variable of a bad entry without echoing the key", async () => {
    const bad = (sources: Parameters<typeof KeyRing.load>[0]) => {
      try {
        KeyRing.load(sources);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error("no error");
    };
    expect(bad({ API_KEYS: "just-a-secret-without-tenant" })).toMatch(/API_KEYS: entry 1 is not tenant=key/);
    expect(bad({ API_KEYS: "just-a-secret-without-tenant" })).not.toContain("just-a-secret");
    expect(bad({ API_KEYS: "acme=short" })).toMatch(/shorter than 16/);
    expect(bad({ API_KEYS: "bad tenant!=0123456789abcdefgh" })).toMatch(/tenant/);
    expect(bad({ API_KEYS: `a=${ACME}`, ADMIN_API_KEYS: `b=${ACME}` })).toMatch(/same key/);
    const file = join(dir, "plain.json");
    await writeFile(file, JSON.stringify({ keys: [{ tenant: "acme", key: ACME }] }));
    expect(bad({ API_KEYS_FILE: file })).toMatch(/API_KEYS_FILE=.*sha256/);
    expect(bad({ API_KEYS_FILE: join(dir, "missing.json") })).toMatch(/API_KEYS_FILE=/);
  });

  it("refuses to listen on a public address without keys unless told to", async () => {
    const env = liveServerEnv(dir, { SANDBOX_POOL_MAX: "0", HOST: "0.0.0.0" });
    const logger = createLogger({ level: "silent", format: "plain" });
    await expect(startServer(loadConfig(env), logger)).rejects.toThrow(/HOST="0.0.0.0".*ALLOW_UNAUTHENTICATED/s);
    for (const extra of [{ ALLOW_UNAUTHENTICATED: "true" }, { API_KEYS: `acme=${ACME}` }]) {
      const server = await startServer(loadConfig({ ...env, ...extra }), logger);
      await server.close();
    }
  });
});
