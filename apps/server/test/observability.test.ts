import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { FileStore } from "@code-interpreter/files";
import { serverEnv } from "@code-interpreter/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/observability/logger.js";
import { json, localBackend, postJson } from "./fixture.js";

// Real executions on a shared, busy machine: room beyond vitest's 5 s default.
describe("observability", { timeout: 60_000 }, () => {
  let dir: string;
  let app: ReturnType<typeof createApp>;
  let close = async () => {};
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ci-observability-"));
    await chmod(dir, 0o711); // the sandbox uid reaches session workspaces below it
    const config = loadConfig(serverEnv(dir));
    const backend = await localBackend(config);
    const store = await FileStore.open({ dir: config.FILE_STORAGE_DIR, maxFileBytes: 1024 * 1024, ttlSeconds: 3600 });
    const destination = new PassThrough();
    destination.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
    });
    app = createApp({ backend, store, config, logger: createLogger({ level: "info", format: "json", destination }) });
    close = async () => {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    };
  });
  afterAll(() => close());

  it("gives every response a request id, and keeps the caller's own", async () => {
    const generated = await app.request("/health");
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await app.request("/health", { headers: { "X-Request-Id": "trace-42" } });
    expect(kept.headers.get("x-request-id")).toBe("trace-42");
    const unknown = await app.request("/nowhere");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("x-request-id")).toBeTruthy();
  });

  it("counts executions by outcome and exposes them at /metrics", async () => {
    expect((await postJson(app, "/v1/execute", { code: "print(1)" })).status).toBe(200);
    expect((await postJson(app, "/v1/execute", { code: "raise SystemExit(3)" })).status).toBe(200);
    expect((await postJson(app, "/v1/execute", { code: "while True: pass", timeout_ms: 300 })).status).toBe(200);
    const response = await app.request("/metrics");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    const value = (series: string) => Number(text.match(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m"))?.[1]);
    expect(value('code_interpreter_executions_total{backend="local",kind="execute",outcome="ok",interface="http"}')).toBe(1);
    expect(value('code_interpreter_executions_total{backend="local",kind="execute",outcome="error",interface="http"}')).toBe(1);
    expect(value('code_interpreter_executions_total{backend="local",kind="execute",outcome="timeout",interface="http"}')).toBe(1);
    expect(value('code_interpreter_execution_duration_seconds_count{backend="local",kind="execute",interface="http"}')).toBe(3);
    expect(value('code_interpreter_active_sessions{backend="local"}')).toBe(0);
    expect(value("code_interpreter_file_store_bytes")).toBe(0);
    expect(text).toContain("# TYPE code_interpreter_sandbox_start_duration_seconds histogram");
    expect(text).toContain("# TYPE code_interpreter_reaped_sessions_total counter");
    expect(value("code_interpreter_process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(value("code_interpreter_process_open_fds")).toBeGreaterThan(0);
  });

  it("reports live sessions and session commands", async () => {
    const session = await json(await postJson(app, "/v1/sessions", {}));
    await postJson(app, `/v1/sessions/${session.session_id}/bash`, { cmd: "true" });
    const text = await (await app.request("/metrics")).text();
    expect(text).toMatch(/^code_interpreter_active_sessions\{backend="local"\} 1$/m);
    expect(text).toMatch(/^code_interpreter_executions_total\{backend="local",kind="bash",outcome="ok",interface="http"\} 1$/m);
    await app.request(`/v1/sessions/${session.session_id}`, { method: "DELETE" });
    expect(await (await app.request("/metrics")).text()).toMatch(/^code_interpreter_active_sessions\{backend="local"\} 0$/m);
  });

  it("writes one JSON line per request with its id, route, status and session, and no user code", async () => {
    lines.length = 0;
    const secret = "print('do-not-log-this-code')";
    const session = await json(await postJson(app, "/v1/sessions", {}));
    await postJson(app, `/v1/sessions/${session.session_id}/bash`, { cmd: "echo do-not-log-this-either" });
    await postJson(app, "/v1/execute", { code: secret, stdin: "secret-stdin" });
    await app.request(`/v1/sessions/${session.session_id}`, { method: "DELETE" });
    const requests = lines.filter((line) => line.msg === "request");
    expect(requests.map((line) => [line.method, line.route, line.status])).toEqual([
      ["POST", "/v1/sessions", 201],
      ["POST", "/v1/sessions/:sessionId/bash", 200],
      ["POST", "/v1/execute", 200],
      ["DELETE", "/v1/sessions/:sessionId", 204],
    ]);
    expect(requests[1]).toMatchObject({ session_id: session.session_id, backend: "local", interface: "http" });
    for (const line of requests) {
      expect(line.request_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(typeof line.duration_ms).toBe("number");
    }
    expect(JSON.stringify(lines)).not.toMatch(/do-not-log|secret-stdin/);
  });
});
