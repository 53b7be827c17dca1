import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { type Backend, BackendUnavailableError, NotSupportedError, type OutputCallbacks } from "@code-interpreter/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import { type BackendFactory, createTestApp, json, postJson, type RequestTarget } from "./fixture.js";

/** The server the route tests talk to. */
export interface RouteServer {
  /** Answers requests like Hono's `app.request`: in process, or over HTTP. */
  app: RequestTarget;
  config: Config;
  /** Entry names in the file store's directory (or in a subdirectory of it). */
  listStore(subdirectory?: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Starts a server configured with `env` on top of its defaults. */
export type RouteServerFactory = (env: Record<string, string>) => Promise<RouteServer>;

export interface DescribeRoutesOptions {
  /**
   * Runs the tests against these servers instead of the app in process (e.g.
   * the server image in a container). Tests that swap the backend for a
   * faulty one need the app in process and are left out.
   */
  createServer?: RouteServerFactory;
  /** Environment every in-process server gets on top of its own (e.g. FILE_STORE=s3 and its settings). */
  env?: Record<string, string>;
  /** Lists what the file store holds (object keys, say), when it is not FILE_STORAGE_DIR. */
  listStore?: (config: Config, subdirectory: string) => Promise<string[]>;
}

/**
 * The route tests, run against a real backend: `leftovers` lists its
 * sandboxes still present once the requests are done (none are expected).
 */
export function describeRoutes(
  name: string,
  createBackend: BackendFactory,
  leftovers: () => Promise<unknown[]>,
  options: DescribeRoutesOptions = {},
): void {
  const inProcess: RouteServerFactory = async (env) => {
    const app = await createTestApp({ ...options.env, ...env }, undefined, createBackend);
    const list = options.listStore ?? ((config, subdirectory) => readdir(join(config.FILE_STORAGE_DIR, subdirectory)));
    return { ...app, listStore: (subdirectory = ".") => list(app.config, subdirectory) };
  };
  const createServer = options.createServer ?? inProcess;
  describe(`routes on the ${name} backend`, { timeout: 60_000 }, () => {
    let t: RouteServer;
    beforeAll(async () => {
      t = await createServer({
        MAX_FILE_SIZE_MB: "1",
        MAX_REQUEST_BODY_MB: "1",
        MAX_EXEC_TIMEOUT_MS: "20000",
        SESSION_MAX_LIFETIME_SECONDS: "600",
      });
    }, 120_000);
    afterAll(async () => {
      await t?.close();
    });

    const upload = async (content: Uint8Array | string, name = "input.txt") => {
      const form = new FormData();
      form.append("file", new Blob([typeof content === "string" ? content : new Uint8Array(content)]), name);
      return t.app.request("/v1/files", { method: "POST", body: form });
    };

    describe("GET /health", () => {
      it("answers ok with the server version", async () => {
        const response = await t.app.request("/health");
        expect(response.status).toBe(200);
        expect(await json(response)).toEqual({ status: "ok", version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
      });
    });

    describe("POST /v1/execute", () => {
      it("runs code and shows the last expression", async () => {
        const response = await postJson(t.app, "/v1/execute", { code: "x = 6*7\nx" });
        expect(response.status).toBe(200);
        expect(await json(response)).toMatchObject({ stdout: "42\n", stderr: "", exit_code: 0, timed_out: false, files: [] });
      });

      it("accepts the full onyx request shape with nulls", async () => {
        const response = await postJson(t.app, "/v1/execute", { code: "print(input())", stdin: null, timeout_ms: 5000, files: [] });
        const body = await json(response);
        expect(body.exit_code).toBe(1);
        expect(body.stderr).toContain("EOFError");
      });

      it("edits an uploaded file and returns the edit as a new file to download", async () => {
        const { file_id } = await json(await upload("Hello World"));
        const response = await postJson(t.app, "/v1/execute", {
          code: "from pathlib import Path\np = Path('docs/input.txt')\np.write_text(p.read_text() + '!')\nPath('new.bin').write_bytes(bytes(range(256)))",
          files: [{ path: "docs/input.txt", file_id }],
        });
        const body = await json(response);
        expect(body.exit_code).toBe(0);
        expect(body.files.map((f: { path: string; kind: string }) => [f.path, f.kind])).toEqual([
          ["docs/input.txt", "file"],
          ["new.bin", "file"],
        ]);
        const edited = await t.app.request(`/v1/files/${body.files[0].file_id}`);
        expect(await edited.text()).toBe("Hello World!");
        const binary = Buffer.from(await (await t.app.request(`/v1/files/${body.files[1].file_id}`)).arrayBuffer());
        expect(binary.equals(Buffer.from(Array.from({ length: 256 }, (_, i) => i)))).toBe(true);
      });

      it("reports a timeout with timed_out and a null exit code", async () => {
        const response = await postJson(t.app, "/v1/execute", { code: "while True: pass", timeout_ms: 500 });
        expect(await json(response)).toMatchObject({ timed_out: true, exit_code: null });
      });

      it.each([
        [{}, "code"],
        [{ code: 1 }, "code"],
        [{ code: "1", timeout_ms: 0 }, "timeout_ms"],
        [{ code: "1", timeout_ms: 1.5 }, "timeout_ms"],
        [{ code: "1", timeout_ms: 20001 }, "MAX_EXEC_TIMEOUT_MS"],
        [{ code: "1", timeout_ms: "100" }, "timeout_ms"],
        [{ code: "1", last_line_interactive: "yes" }, "last_line_interactive"],
        [{ code: "1", files: [{ path: "/etc/passwd", file_id: "x" }] }, "relative"],
        [{ code: "1", files: [{ path: "../up", file_id: "x" }] }, "'..'"],
        [{ code: "1", files: [{ path: "__main__.py", file_id: "x" }] }, "reserved"],
        [{ code: "1", files: "nope" }, "files"],
        [[], "expected object"],
      ])("refuses %j with 422 naming the problem", async (body, mentions) => {
        const response = await postJson(t.app, "/v1/execute", body);
        expect(response.status).toBe(422);
        expect((await json(response)).detail).toContain(mentions);
      });

      it("refuses malformed JSON, a missing body and the wrong content type with 422", async () => {
        const bad = await t.app.request("/v1/execute", { method: "POST", headers: { "content-type": "application/json" }, body: "{code:" });
        expect(bad.status).toBe(422);
        expect((await json(bad)).detail).toBe("Request body is not valid JSON");
        const empty = await t.app.request("/v1/execute", { method: "POST", headers: { "content-type": "application/json" } });
        expect(empty.status).toBe(422);
        const text = await t.app.request("/v1/execute", {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: '{"code":"1"}',
        });
        expect(text.status).toBe(422);
        expect((await json(text)).detail).toContain("Content-Type");
      });

      it("refuses a body over MAX_REQUEST_BODY_MB with 413", async () => {
        const response = await postJson(t.app, "/v1/execute", { code: `# ${"x".repeat(2 * 1024 * 1024)}` });
        expect(response.status).toBe(413);
        expect((await json(response)).detail).toContain("MAX_REQUEST_BODY_MB");
      });

      it("answers 404 naming the file id and path of an unknown input", async () => {
        const missing = "12345678-1234-1234-1234-123456789abc";
        const response = await postJson(t.app, "/v1/execute", { code: "1", files: [{ path: "in.txt", file_id: missing }] });
        expect(response.status).toBe(404);
        expect((await json(response)).detail).toBe(`File "${missing}" for path "in.txt" not found`);
      });

      it("ignores unknown fields and keys like __proto__", async () => {
        const response = await t.app.request("/v1/execute", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"code":"print(1)","__proto__":{"polluted":true},"extra":1}',
        });
        expect(response.status).toBe(200);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });
    });

    // onyx clients and tests read these words; ours follow them.
    describe("onyx's wording", () => {
      it("413 File size exceeds maximum of N MB for an upload over MAX_FILE_SIZE_MB", async () => {
        const response = await upload(Buffer.alloc(1024 * 1024 + 1), "big.bin");
        expect(response.status).toBe(413);
        expect((await json(response)).detail).toBe("File size exceeds maximum of 1 MB (MAX_FILE_SIZE_MB)");
      });

      it("422 timeout_ms exceeds maximum of N ms past MAX_EXEC_TIMEOUT_MS", async () => {
        const response = await postJson(t.app, "/v1/execute", { code: "1", timeout_ms: 20001 });
        expect(response.status).toBe(422);
        expect((await json(response)).detail).toBe("timeout_ms exceeds maximum of 20000 ms (MAX_EXEC_TIMEOUT_MS)");
      });

      it.each([
        ["/etc/passwd", "File paths must be relative. "],
        ["../escape.txt", "File paths must not contain '..'. "],
      ])("422 for the staging path %j starts with %j", async (path, sentence) => {
        const response = await postJson(t.app, "/v1/execute", { code: "1", files: [{ path, file_id: "x" }] });
        expect(response.status).toBe(422);
        expect((await json(response)).detail.startsWith(sentence)).toBe(true);
      });
    });

    // MAX_FILE_SIZE_MB is 1 here.
    describe("the code's output is never lost", () => {
      const WRITE_2_MB = "open('big.bin', 'wb').write(b'x' * (2 * 1024 * 1024))";

      it("a write past MAX_FILE_SIZE_MB fails in the code's own traceback (EFBIG); the answer is 200 with the output", async () => {
        const response = await postJson(t.app, "/v1/execute", {
          code: `print('before')\nopen('small.txt', 'w').write('kept')\n${WRITE_2_MB}\nprint('never')`,
          timeout_ms: 10_000,
        });
        expect(response.status).toBe(200);
        const body = await json(response);
        expect(body.stdout).toBe("before\n");
        expect(body.stderr).toContain("File too large");
        expect(body.exit_code).toBe(1);
        expect(body.files.map((file: { path: string }) => file.path)).toContain("small.txt");
        // What was written up to the limit is kept like any other file.
        expect(body).not.toHaveProperty("skipped_files");
      });

      it("code that handles the failed write carries on", async () => {
        const code = `try:\n    ${WRITE_2_MB}\nexcept OSError as error:\n    print('errno', error.errno)\nprint('after')`;
        const body = await json(await postJson(t.app, "/v1/execute", { code, timeout_ms: 10_000 }));
        expect(body).toMatchObject({ stdout: "errno 27\nafter\n", exit_code: 0 });
      });

      it.runIf(!options.createServer)(
        "a file still too large to keep is left out and listed in skipped_files, on execute and stream",
        async () => {
          const big = { path: "out/huge.bin", content: Buffer.alloc(1024 * 1024 + 1) };
          const small = { path: "small.txt", content: Buffer.from("kept") };
          const oversized = await createTestApp(
            { MAX_FILE_SIZE_MB: "1" },
            (backend) =>
              override(backend, {
                // A backend whose sandbox let a file past the limit (another store limit, an older image, …).
                execute: async (request) => ({ ...(await backend.execute(request)), files: [big, small] }),
                runInSession: async (request) => ({ ...(await backend.runInSession(request)), files: [big] }),
              }),
            createBackend,
          );
          try {
            const response = await postJson(oversized.app, "/v1/execute", { code: "print('ran')" });
            expect(response.status).toBe(200);
            const body = await json(response);
            expect(body).toMatchObject({ stdout: "ran\n", exit_code: 0 });
            expect(body.files).toEqual([{ path: "small.txt", kind: "file", file_id: expect.any(String) }]);
            expect(body.skipped_files).toEqual([{ path: "out/huge.bin", reason: expect.stringContaining("MAX_FILE_SIZE_MB") }]);
            // skipped_files comes after the onyx fields, right after files.
            const keys = Object.keys(body).slice(0, 7);
            expect(keys).toEqual(["stdout", "stderr", "exit_code", "timed_out", "duration_ms", "files", "skipped_files"]);

            const events = parseEvents(await (await postJson(oversized.app, "/v1/execute/stream", { code: "print('ran')" })).text());
            const result = events.find((event) => event.event === "result")?.data;
            expect(result?.skipped_files).toEqual(body.skipped_files);
            expect(result?.files).toEqual([{ path: "small.txt", kind: "file", file_id: expect.any(String) }]);

            const { session_id } = await json(await postJson(oversized.app, "/v1/sessions", {}));
            const python = await json(await postJson(oversized.app, `/v1/sessions/${session_id}/python`, { code: "print('cell')" }));
            expect(python).toMatchObject({ stdout: "cell\n", files: [], skipped_files: body.skipped_files });
            await oversized.app.request(`/v1/sessions/${session_id}`, { method: "DELETE" });
          } finally {
            await oversized.close();
          }
        },
      );
    });

    describe("outputs are stored as the snapshot arrives", () => {
      const MANY =
        "import os\nos.makedirs('out', exist_ok=True)\nfor i in reversed(range(30)): open(f'out/{i:02}.txt', 'w').write(str(i))\nopen('big.bin', 'wb').write(os.urandom(512 * 1024))";
      const names = ["big.bin", ...Array.from({ length: 30 }, (_, i) => `out/${String(i).padStart(2, "0")}.txt`)];

      it("stores each output and lists them all by path, on execute and stream", async () => {
        const body = await json(await postJson(t.app, "/v1/execute", { code: MANY, timeout_ms: 15_000 }));
        expect(body.exit_code).toBe(0);
        expect(body.files.map((file: { path: string }) => file.path)).toEqual(names);
        expect(await (await t.app.request(`/v1/files/${body.files[7].file_id}`)).text()).toBe("6");
        const big = await t.app.request(`/v1/files/${body.files[0].file_id}`);
        expect((await big.arrayBuffer()).byteLength).toBe(512 * 1024);

        const events = parseEvents(await (await postJson(t.app, "/v1/execute/stream", { code: MANY, timeout_ms: 15_000 })).text());
        const result = events.find((event) => event.event === "result")?.data as { files: { path: string }[] } | undefined;
        expect(result?.files.map((file) => file.path)).toEqual(names);
      });

      it.runIf(!options.createServer)("keeps none of the outputs of an execution that fails after some were stored", async () => {
        let stored = 0;
        const failing = await createTestApp(
          {},
          (backend) =>
            override(backend, {
              // The sandbox answered and its files were stored, then the backend failed (its engine went away, say).
              execute: async (request) => {
                await backend.execute({
                  ...request,
                  onFile: async (file) => {
                    await request.onFile?.(file);
                    stored += 1;
                  },
                });
                throw new BackendUnavailableError({ message: "the engine went away" });
              },
            }),
          createBackend,
        );
        try {
          const before = await json(await failing.app.request("/v1/files"));
          const response = await postJson(failing.app, "/v1/execute", { code: MANY, timeout_ms: 15_000 });
          expect(response.status).toBe(503);
          const events = parseEvents(await (await postJson(failing.app, "/v1/execute/stream", { code: MANY, timeout_ms: 15_000 })).text());
          expect(events.at(-1)?.event).toBe("error");
          expect(stored).toBe(2 * names.length);
          expect(await json(await failing.app.request("/v1/files"))).toEqual(before);
        } finally {
          await failing.close();
        }
      });
    });

    describe("POST /v1/execute/stream", () => {
      it("sends output events, then one result", async () => {
        const response = await postJson(t.app, "/v1/execute/stream", {
          code: "import sys\nprint('a')\nprint('b', file=sys.stderr)\nopen('f.txt','w').write('z')\nNone",
        });
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toContain("text/event-stream");
        expect(response.headers.get("cache-control")).toBe("no-cache");
        expect(response.headers.get("x-accel-buffering")).toBe("no");
        const events = parseEvents(await response.text());
        const output = events.filter((e) => e.event === "output").map((e) => e.data);
        expect(
          output
            .filter((o) => o.stream === "stdout")
            .map((o) => o.data)
            .join(""),
        ).toBe("a\n");
        expect(
          output
            .filter((o) => o.stream === "stderr")
            .map((o) => o.data)
            .join(""),
        ).toBe("b\n");
        const results = events.filter((e) => e.event === "result");
        expect(results).toHaveLength(1);
        expect(results[0]?.data).toMatchObject({ exit_code: 0, timed_out: false, files: [{ path: "f.txt", kind: "file" }] });
        expect(results[0]?.data).not.toHaveProperty("stdout");
        expect(events.at(-1)?.event).toBe("result");
      });

      it("refuses invalid requests with a JSON 422 before streaming", async () => {
        const response = await postJson(t.app, "/v1/execute/stream", { code: "1", timeout_ms: -1 });
        expect(response.status).toBe(422);
        expect(response.headers.get("content-type")).toContain("application/json");
      });
    });

    describe("/v1/files", () => {
      it("uploads, lists, downloads and deletes a file", async () => {
        const uploaded = await upload(Buffer.from([1, 2, 3, 0, 255]), "data.bin");
        expect(uploaded.status).toBe(201);
        const meta = await json(uploaded);
        expect(meta).toEqual({ file_id: expect.any(String), filename: "data.bin", size_bytes: 5 });
        const listed = (await json(await t.app.request("/v1/files"))).files;
        expect(listed).toContainEqual({ ...meta, upload_time: expect.any(String) });
        const download = await t.app.request(`/v1/files/${meta.file_id}`);
        expect(download.status).toBe(200);
        expect(download.headers.get("content-type")).toBe("application/octet-stream");
        expect(download.headers.get("content-disposition")).toBe('attachment; filename="data.bin"');
        expect(Buffer.from(await download.arrayBuffer()).equals(Buffer.from([1, 2, 3, 0, 255]))).toBe(true);
        expect((await t.app.request(`/v1/files/${meta.file_id}`, { method: "DELETE" })).status).toBe(204);
        expect((await t.app.request(`/v1/files/${meta.file_id}`)).status).toBe(404);
        expect((await t.app.request(`/v1/files/${meta.file_id}`, { method: "DELETE" })).status).toBe(404);
      });

      it("keeps a UTF-8 filename as sent", async () => {
        const meta = await json(await upload(Buffer.from("x"), "résumé 数据.txt"));
        expect(meta.filename).toBe("résumé 数据.txt");
        const download = await t.app.request(`/v1/files/${meta.file_id}`);
        expect(download.headers.get("content-disposition")).toContain("filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%95%B0%E6%8D%AE.txt");
        await t.app.request(`/v1/files/${meta.file_id}`, { method: "DELETE" });
      });

      it("refuses a file over MAX_FILE_SIZE_MB with 413 and keeps nothing of it", async () => {
        const before = await t.listStore();
        const response = await upload(Buffer.alloc(1024 * 1024 + 1), "big.bin");
        expect(response.status).toBe(413);
        expect((await json(response)).detail).toContain("MAX_FILE_SIZE_MB");
        expect(await t.listStore()).toEqual(before);
        expect(await t.listStore("tmp")).toEqual([]);
      });

      it("answers 422 when the upload is not multipart or has no file field", async () => {
        const notMultipart = await postJson(t.app, "/v1/files", { file: "x" });
        expect(notMultipart.status).toBe(422);
        const form = new FormData();
        form.append("other", "value");
        const missing = await t.app.request("/v1/files", { method: "POST", body: form });
        expect(missing.status).toBe(422);
        expect((await json(missing)).detail).toContain("'file'");
      });

      it("answers 404 for ids that are not stored, including traversal attempts", async () => {
        for (const id of ["nope", "..%2F..%2Fetc%2Fpasswd", "00000000-0000-0000-0000-000000000000"]) {
          const response = await t.app.request(`/v1/files/${id}`);
          expect(response.status).toBe(404);
          expect(await json(response)).toEqual({ detail: expect.stringContaining("not found") });
        }
      });
    });

    describe("/v1/sessions", () => {
      it("creates a session with files, runs bash and python in it, and deletes it", async () => {
        const { file_id } = await json(await upload("a,b\n1,2\n", "data.csv"));
        const created = await postJson(t.app, "/v1/sessions", { ttl_seconds: 120, files: [{ path: "data.csv", file_id }] });
        expect(created.status).toBe(201);
        const { session_id, expires_at } = await json(created);
        expect(session_id).toMatch(/^code-session-/);
        expect(expires_at).toBeGreaterThan(Date.now() / 1000 + 100);

        const bash = await postJson(t.app, `/v1/sessions/${session_id}/bash`, { cmd: "wc -l < data.csv; echo state > kept.txt" });
        expect(await json(bash)).toMatchObject({
          stdout: "2\n",
          stderr: "",
          exit_code: 0,
          timed_out: false,
          duration_ms: expect.any(Number),
        });
        const again = await postJson(t.app, `/v1/sessions/${session_id}/bash`, { cmd: "cat kept.txt" });
        expect((await json(again)).stdout).toBe("state\n");
        const python = await postJson(t.app, `/v1/sessions/${session_id}/python`, { code: "open('kept.txt').read().strip()" });
        expect((await json(python)).stdout).toBe("'state'\n");

        const files = await json(await t.app.request(`/v1/sessions/${session_id}/files`));
        expect(files.files.map((f: { path: string }) => f.path).sort()).toEqual(["data.csv", "kept.txt"]);
        const kept = await t.app.request(`/v1/sessions/${session_id}/files/kept.txt`);
        expect(await kept.text()).toBe("state\n");
        expect(files.files.find((f: { path: string }) => f.path === "kept.txt")).toEqual({ path: "kept.txt", kind: "file", size_bytes: 6 });
        expect((await t.app.request(`/v1/sessions/${session_id}/files/absent.txt`)).status).toBe(404);

        const keepalive = await postJson(t.app, `/v1/sessions/${session_id}/keepalive`, { ttl_seconds: 300 });
        expect((await json(keepalive)).expires_at).toBeGreaterThan(expires_at);

        expect((await t.app.request(`/v1/sessions/${session_id}`, { method: "DELETE" })).status).toBe(204);
        expect((await t.app.request(`/v1/sessions/${session_id}`, { method: "DELETE" })).status).toBe(404);
        expect((await postJson(t.app, `/v1/sessions/${session_id}/bash`, { cmd: "true" })).status).toBe(404);
      });

      it("caps the TTL at SESSION_MAX_LIFETIME_SECONDS", async () => {
        const { session_id, expires_at } = await json(await postJson(t.app, "/v1/sessions", { ttl_seconds: 999_999 }));
        expect(expires_at).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 600);
        await t.app.request(`/v1/sessions/${session_id}`, { method: "DELETE" });
      });

      it("answers 404 for ids that are not sessions of ours", async () => {
        for (const id of ["code-exec-1", "code-session-00000000-0000-0000-0000-000000000000", "..", "some-container"]) {
          expect((await t.app.request(`/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(404);
          expect((await postJson(t.app, `/v1/sessions/${id}/bash`, { cmd: "id" })).status).toBe(404);
        }
      });

      it("validates session requests with 422", async () => {
        expect((await postJson(t.app, "/v1/sessions", { ttl_seconds: 0 })).status).toBe(422);
        expect((await postJson(t.app, "/v1/sessions", { ttl_seconds: "long" })).status).toBe(422);
        const { session_id } = await json(await postJson(t.app, "/v1/sessions", {}));
        expect((await postJson(t.app, `/v1/sessions/${session_id}/bash`, {})).status).toBe(422);
        expect((await postJson(t.app, `/v1/sessions/${session_id}/bash`, { cmd: "true", timeout_ms: 0 })).status).toBe(422);
        await t.app.request(`/v1/sessions/${session_id}`, { method: "DELETE" });
      });
    });

    describe("error mapping", () => {
      it("answers unknown routes with a JSON 404", async () => {
        const response = await t.app.request("/v2/nothing");
        expect(response.status).toBe(404);
        expect(await json(response)).toEqual({ detail: "No route for GET /v2/nothing" });
      });

      // These replace the backend with a faulty one, which only the app in process allows.
      it.runIf(!options.createServer)("answers 501 when the backend has no sessions and 503 when it is unavailable", async () => {
        const limited = await createTestApp(
          {},
          (backend) =>
            override(backend, {
              createSession: async () => {
                throw new NotSupportedError({ message: "sessions are not supported by this backend" });
              },
              execute: async () => {
                throw new BackendUnavailableError({ message: "engine unreachable" });
              },
            }),
          createBackend,
        );
        try {
          const session = await postJson(limited.app, "/v1/sessions", {});
          expect(session.status).toBe(501);
          expect(await json(session)).toEqual({ detail: "sessions are not supported by this backend" });
          const execute = await postJson(limited.app, "/v1/execute", { code: "1" });
          expect(execute.status).toBe(503);
          expect(await json(execute)).toEqual({ detail: "engine unreachable" });
          const events = parseEvents(await (await postJson(limited.app, "/v1/execute/stream", { code: "1" })).text());
          expect(events).toEqual([{ event: "error", data: { message: "engine unreachable" } }]);
        } finally {
          await limited.close();
        }
      });

      it.runIf(!options.createServer)("answers an unexpected failure with a bare 500, never a stack trace", async () => {
        // Fails the way a bug would: a TypeError, after the code's first output has gone out.
        const failing = async (request: OutputCallbacks): Promise<never> => {
          request.onStdout?.("started\n");
          throw new TypeError("secret internal detail at /srv/app.js:1");
        };
        const broken = await createTestApp({}, (backend) => override(backend, { execute: failing, runInSession: failing }), createBackend);
        try {
          const response = await postJson(broken.app, "/v1/execute", { code: "1" });
          expect(response.status).toBe(500);
          expect(await json(response)).toEqual({ detail: "Internal server error" });
          // A stream's error event says no more than an answer would.
          const failed = [
            { event: "output", data: { stream: "stdout", data: "started\n" } },
            { event: "error", data: { message: "Internal server error" } },
          ];
          const stream = await postJson(broken.app, "/v1/execute/stream", { code: "1" });
          expect(stream.status).toBe(200);
          expect(parseEvents(await stream.text())).toEqual(failed);
          const { session_id } = await json(await postJson(broken.app, "/v1/sessions", {}));
          try {
            const python = await postJson(broken.app, `/v1/sessions/${session_id}/python`, { code: "1" });
            expect(python.status).toBe(500);
            expect(await json(python)).toEqual({ detail: "Internal server error" });
            const sessionStream = await postJson(broken.app, `/v1/sessions/${session_id}/python/stream`, { code: "1" });
            expect(parseEvents(await sessionStream.text())).toEqual(failed);
          } finally {
            await broken.app.request(`/v1/sessions/${session_id}`, { method: "DELETE" });
          }
        } finally {
          await broken.close();
        }
      });

      it("answers 429 with Retry-After past MAX_CONCURRENT_EXECUTIONS", async () => {
        const single = await createServer({ MAX_CONCURRENT_EXECUTIONS: "1" });
        try {
          const slow = postJson(single.app, "/v1/execute", { code: "import time\ntime.sleep(1.5)", timeout_ms: 5000 });
          await new Promise((resolve) => setTimeout(resolve, 300));
          const refused = await postJson(single.app, "/v1/execute", { code: "1" });
          expect(refused.status).toBe(429);
          expect(refused.headers.get("retry-after")).toBe("1");
          expect((await json(refused)).detail).toContain("MAX_CONCURRENT_EXECUTIONS");
          expect((await slow).status).toBe(200);
          expect((await postJson(single.app, "/v1/execute", { code: "1" })).status).toBe(200);
        } finally {
          await single.close();
        }
      });
    });

    describe("cleanup", () => {
      it("leaves no sandbox running after the requests above", async () => {
        expect(await leftovers()).toEqual([]);
      });
    });
  });
}

function override(backend: Backend, methods: Partial<Backend>): Backend {
  return new Proxy(backend, {
    get: (target, key, receiver) => (key in methods ? methods[key as keyof Backend] : Reflect.get(target, key, receiver)),
  });
}

function parseEvents(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim())
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6))
        .join("\n");
      return { event, data: JSON.parse(data) };
    });
}
