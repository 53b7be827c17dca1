import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Backend } from "@code-interpreter/core";
import { ALL_TENANTS } from "@code-interpreter/files";
import { type ServerType, serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, json, postJson, runningSandboxes, type TestApp } from "./fixture.js";
import { chunkedFiller, rawRequest } from "./support/raw-http.js";

// Bad requests of every kind, over real HTTP as well as app.request: each must get a 4xx JSON
// {"detail"} (never a 500), and none may reach the backend: every backend call is counted.
const calls: string[] = [];
const counting = (backend: Backend): Backend =>
  new Proxy(backend, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return value.apply(target, args);
      };
    },
  });

let t: TestApp;
let server: ServerType;
let url: string;
beforeAll(async () => {
  t = await createTestApp(
    { MAX_REQUEST_BODY_MB: "1", MAX_FILE_SIZE_MB: "1", MAX_EXEC_TIMEOUT_MS: "20000", SANDBOX_POOL_MAX: "0" },
    counting,
  );
  server = await new Promise<ServerType>((resolve) => {
    const instance = serve({ fetch: t.app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(instance));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => {
    server?.close(() => resolve());
    (server as Server | undefined)?.closeAllConnections();
  });
  await t?.close();
});

const SESSION_ID_ROUTES: [method: string, path: (id: string) => string, body?: unknown][] = [
  ["GET", (id) => `/v1/sessions/${id}`],
  ["DELETE", (id) => `/v1/sessions/${id}`],
  ["POST", (id) => `/v1/sessions/${id}/bash`, { cmd: "id" }],
  ["POST", (id) => `/v1/sessions/${id}/python`, { code: "1" }],
  ["POST", (id) => `/v1/sessions/${id}/python/stream`, { code: "1" }],
  ["POST", (id) => `/v1/sessions/${id}/keepalive`, { ttl_seconds: 60 }],
  ["PUT", (id) => `/v1/sessions/${id}/network`, { allow_out: ["pypi.org"] }],
  ["GET", (id) => `/v1/sessions/${id}/files`],
  ["GET", (id) => `/v1/sessions/${id}/files/a.txt`],
];
const FILE_ID_ROUTES: [method: string, path: (id: string) => string][] = [
  ["GET", (id) => `/v1/files/${id}`],
  ["DELETE", (id) => `/v1/files/${id}`],
];
const HOSTILE_IDS = [
  "..",
  "%2e%2e",
  "..%2F..%2Fetc%2Fpasswd",
  "%2Fetc%2Fpasswd",
  "code-session-..%2F..%2Fetc",
  "code-exec-00000000-0000-0000-0000-000000000000",
  "code-session-00000000-0000-0000-0000-000000000000",
  "code-session-%00",
  "code-session-x%0Ax",
  encodeURIComponent("code-session-é-😀‮"),
  "some-other-container",
  "C0DE-SESSION-1",
  `code-session-${"a".repeat(5000)}`,
  "%ZZ",
];

async function expectJsonError(response: Response, statuses: number[]) {
  const text = await response.text();
  expect(statuses, `${response.status} ${text}`).toContain(response.status);
  expect(response.headers.get("content-type")).toContain("application/json");
  const body = JSON.parse(text);
  expect(body).toEqual({ detail: expect.any(String) });
  expect(body.detail).not.toMatch(/\n\s+at /); // no stack trace
  return body.detail as string;
}

describe("bad and hostile ids", { timeout: 60_000 }, () => {
  // URLs resolve dot segments ("/v1/sessions/../files" is "/v1/files") before a route sees them: no id to test there.
  it.each(HOSTILE_IDS.filter((id) => !["..", "%2e%2e"].includes(id)))("answers %s with 404 on every session route", async (id) => {
    for (const [method, path, body] of SESSION_ID_ROUTES) {
      const response = await fetch(`${url}${path(id)}`, {
        method,
        headers: body ? { "content-type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      // A path that does not even reach a route (a bare "..", bad escapes) is a 404 of the router; both are fine.
      await expectJsonError(response, [400, 404]);
    }
  });

  it.each(HOSTILE_IDS)("answers %s with 404 on every file route", async (id) => {
    for (const [method, path] of FILE_ID_ROUTES) {
      await expectJsonError(await fetch(`${url}${path(id)}`, { method }), [400, 404]);
    }
  });

  it("refuses traversal in a session file path, even on a real session", async () => {
    const { session_id } = await json(await postJson(t.app, "/v1/sessions", {}));
    for (const path of ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "a%00b", "..", "%2e%2e%2fsecret"]) {
      await expectJsonError(await fetch(`${url}/v1/sessions/${session_id}/files/${path}`), [404, 422]);
    }
    expect((await t.app.request(`/v1/sessions/${session_id}`, { method: "DELETE" })).status).toBe(204);
  });
});

describe("malformed bodies", () => {
  const bodies: [what: string, body: string][] = [
    ["truncated JSON", '{"code": "print(1)"'],
    ["not JSON at all", "print(1)"],
    ["JSON null", "null"],
    ["a JSON string", '"print(1)"'],
    ["a JSON number", "42"],
    ["a JSON array", '["print(1)"]'],
    ["trailing garbage", '{"code":"1"} {"code":"2"}'],
    ["invalid UTF-8", "\xff\xfe{"],
    ["deep nesting", `${"[".repeat(100_000)}${"]".repeat(100_000)}`],
    ["a BOM", '\ufeff{"code":"1"}'],
  ];
  for (const path of ["/v1/execute", "/v1/execute/stream", "/v1/sessions"]) {
    it.each(bodies)(`answers %s on ${path} with 422`, async (_what, body) => {
      const response = await t.app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body });
      await expectJsonError(response, [422]);
    });
  }

  it.each([
    ["text/plain", 422],
    ["application/x-www-form-urlencoded", 422],
    ["multipart/form-data; boundary=x", 422],
    ["application/xml", 422],
  ])("refuses Content-Type %s on /v1/execute", async (type, status) => {
    const response = await t.app.request("/v1/execute", { method: "POST", headers: { "content-type": type }, body: '{"code":"1"}' });
    const detail = await expectJsonError(response, [status]);
    expect(detail).toContain("Content-Type");
  });

  it.each([
    ["wrong types", { code: ["print(1)"] }, "code"],
    ["null code", { code: null }, "code"],
    ["stdin as a number", { code: "1", stdin: 5 }, "stdin"],
    ["a float timeout", { code: "1", timeout_ms: 2.5 }, "timeout_ms"],
    ["a negative timeout", { code: "1", timeout_ms: -5 }, "timeout_ms"],
    ["a huge timeout", { code: "1", timeout_ms: 1e300 }, "timeout_ms"],
    ["files as an object", { code: "1", files: { path: "a", file_id: "b" } }, "files"],
    ["a file without an id", { code: "1", files: [{ path: "a" }] }, "file_id"],
    ["a NUL in a file path", { code: "1", files: [{ path: "a\u0000b", file_id: "x" }] }, "path"],
    ["an empty file path", { code: "1", files: [{ path: "", file_id: "x" }] }, "path"],
    ["a URL in allow_out", { code: "1", network: { allow_out: ["https://pypi.org"] } }, '"https://pypi.org" is not a domain'],
    ["a domain in deny_out", { code: "1", network: { deny_out: ["evil.example"] } }, '"evil.example" is not an IP address'],
    ["an unknown field in network", { code: "1", network: { allow: ["pypi.org"] } }, "only allow_out and deny_out"],
    ["network as a list", { code: "1", network: ["pypi.org"] }, "network"],
    ["a secret that is no name", { code: "1", network: {}, secrets: ["a b"] }, "secrets"],
  ])("answers %s on /v1/execute with 422 naming the field", async (_what, body, field) => {
    const detail = await expectJsonError(await postJson(t.app, "/v1/execute", body), [422]);
    expect(detail).toContain(field);
  });

  it.each([
    ["/v1/sessions", { ttl_seconds: -1 }],
    ["/v1/sessions", { ttl_seconds: 1.5 }],
    ["/v1/sessions", { files: [{ path: "../x", file_id: "y" }] }],
    ["/v1/sessions", { network: { allow_out: ["pypi.org:443"] } }],
    ["/v1/sessions", { network: { allow_out: [] }, secrets: "openai" }],
  ])("answers %s %j with 422", async (path, body) => {
    await expectJsonError(await postJson(t.app, path, body), [422]);
  });

  it("ignores unknown fields (onyx clients may send more) and never lets keys like __proto__ pollute objects", async () => {
    const hostile =
      '{"code":"print(1)","__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"unknown":[1,2],' +
      '"files":[],"last_line_interactive":true}';
    const response = await t.app.request("/v1/execute", { method: "POST", headers: { "content-type": "application/json" }, body: hostile });
    expect(response.status).toBe(200);
    expect((await json(response)).stdout).toBe("1\n");
    const nested = await t.app.request("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"ttl_seconds":60,"__proto__":{"ttl_seconds":999999,"polluted":"yes"}}',
    });
    expect(nested.status).toBe(201);
    const { session_id, expires_at } = await json(nested);
    expect(expires_at).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 61);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    await t.app.request(`/v1/sessions/${session_id}`, { method: "DELETE" });
  });
});

describe("oversized bodies are refused before they are read", { timeout: 60_000 }, () => {
  it("answers 413 at once when Content-Length says the JSON body is too large, without waiting for it", async () => {
    const answer = await rawRequest(
      url,
      "POST /v1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1073741824",
      () => undefined,
    );
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ detail: expect.stringContaining("MAX_REQUEST_BODY_MB") });
  });

  it("answers 413 to a chunked JSON body without a length once it passes the limit", async () => {
    // Up to 64 MB offered; the server must stop reading after about 1 MB.
    const answer = await rawRequest(
      url,
      "POST /v1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
      chunkedFiller('{"code":"#', 64 * 1024, 64 * 1024 * 1024),
    );
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).detail).toContain("MAX_REQUEST_BODY_MB");
    expect(answer.sentBytes).toBeLessThan(32 * 1024 * 1024);
  });

  it("answers 413 at once when Content-Length says the upload is too large", async () => {
    const answer = await rawRequest(
      url,
      "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1073741824",
      () => undefined,
    );
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).detail).toContain("MAX_FILE_SIZE_MB");
  });

  it("answers 413 to a chunked upload without a length once it passes the limit, keeping nothing", async () => {
    const before = (await t.store.list(ALL_TENANTS)).length;
    const prefix =
      '--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n';
    const answer = await rawRequest(
      url,
      "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked",
      chunkedFiller(prefix, 64 * 1024, 64 * 1024 * 1024),
    );
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).detail).toContain("MAX_FILE_SIZE_MB");
    expect(answer.sentBytes).toBeLessThan(32 * 1024 * 1024);
    expect((await t.store.list(ALL_TENANTS)).length).toBe(before);
  });
});

describe("after all the bad requests", () => {
  it("never started a sandbox for a refused request and has none running", async () => {
    // Only the few valid requests above reached the backend.
    expect(calls.filter((call) => call === "execute")).toHaveLength(1);
    expect(calls.filter((call) => call === "createSession")).toHaveLength(2);
    expect(await runningSandboxes()).toEqual([]);
  });
});
