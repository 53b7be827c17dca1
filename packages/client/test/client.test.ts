import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, loadConfig, type RunningServer, startServer } from "@code-interpreter/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CodeInterpreterClient,
  CodeInterpreterClientError,
  ConnectionError,
  createCodeInterpreterClient,
  InvalidRequestError,
  NotFoundError,
  RateLimitedError,
  type StreamEvent,
  TimeoutError,
} from "../src/index.js";

let server: RunningServer;
let dir: string;
let client: CodeInterpreterClient;

/** A live server on the local backend, its state under `dir`. */
function startTestServer(name: string, env: Record<string, string> = {}): Promise<RunningServer> {
  return startServer(
    loadConfig({
      PORT: "0",
      EXECUTOR_BACKEND: "local",
      LOCAL_SANDBOX: process.env.CI === "true" ? "require" : "auto",
      FILE_STORAGE_DIR: join(dir, name, "files"),
      LOCAL_STATE_DIR: join(dir, name, "local"),
      SANDBOX_POOL_MAX: "0",
      ...env,
    }),
    createLogger({ level: "silent", format: "plain" }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-client-"));
  await chmod(dir, 0o711); // the sandbox uid reaches session workspaces below it
  // EGRESS_ALLOW=none: the network test below is about a server whose operator turned egress off.
  server = await startTestServer("main", { EGRESS_ALLOW: "none" });
  client = createCodeInterpreterClient({ baseUrl: server.url });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const all: StreamEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("health and execute", () => {
  it("reads /health", async () => {
    expect(await client.health()).toEqual({ status: "ok", version: expect.any(String) });
  });

  it("reads the server's capabilities: its runtimes and default", async () => {
    const capabilities = await client.capabilities();
    expect(capabilities).toMatchObject({ backend: "local", runtimes: ["default"], default_runtime: "default", sessions: true });
  });

  it("asks for a runtime, and gets a 422 naming the offered ones when the server does not offer it", async () => {
    expect((await client.execute({ code: "print(1)", runtime: "default" })).stdout).toBe("1\n");
    const refused = await client.execute({ code: "print(1)", runtime: "gvisor" }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidRequestError);
    expect((refused as InvalidRequestError).detail).toContain('runtime "gvisor" is not offered by this server; it offers: default');
    await expect(client.createSession({ runtime: "gvisor" })).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it("executes code and answers with its output and exit code", async () => {
    const result = await client.execute({ code: "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6*7" });
    expect(result).toMatchObject({ stdout: "out\n42\n", stderr: "err\n", exit_code: 0, timed_out: false, files: [] });
  });

  it("streams output events, then one result", async () => {
    const events = await collect(client.executeStream({ code: "print('a', flush=True)\nprint('b')\n_ = open('x.txt','w').write('x')" }));
    const output = events
      .filter((event) => event.type === "output")
      .map((event) => event.data.data)
      .join("");
    expect(output).toBe("a\nb\n");
    const last = events.at(-1);
    expect(last?.type).toBe("result");
    expect(last?.data).toMatchObject({ exit_code: 0, timed_out: false, files: [{ path: "x.txt", kind: "file" }] });
    expect(events.filter((event) => event.type !== "output")).toHaveLength(1);
  });
});

describe("files", () => {
  it("uploads, lists, downloads with the stored name, and deletes a file", async () => {
    const uploaded = await client.uploadFile("a,b\n1,2\n", "data 1.csv");
    expect(uploaded).toMatchObject({ filename: "data 1.csv", size_bytes: 8 });
    expect((await client.listFiles()).map((file) => file.file_id)).toContain(uploaded.file_id);
    const downloaded = await client.downloadFile(uploaded.file_id);
    expect(downloaded.filename).toBe("data 1.csv");
    expect(text(downloaded.content)).toBe("a,b\n1,2\n");
    await client.deleteFile(uploaded.file_id);
    await expect(client.downloadFile(uploaded.file_id)).rejects.toSatisfy((error) => NotFoundError.isInstance(error));
  });

  it("reports upload progress up to the file's size and stages the file into an execution", async () => {
    const content = new Uint8Array(3 * 1024 * 1024).fill(120);
    const progress: number[] = [];
    const uploaded = await client.uploadFile(new Blob([content]), "big.bin", {
      onProgress: (sent, total) => {
        expect(total).toBe(content.length);
        progress.push(sent);
      },
    });
    expect(uploaded.size_bytes).toBe(content.length);
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBe(content.length);
    const result = await client.execute({
      code: "import os\nos.path.getsize('in/big.bin')",
      files: [{ path: "in/big.bin", file_id: uploaded.file_id }],
    });
    expect(result.stdout).toBe(`${content.length}\n`);
    await client.deleteFile(uploaded.file_id);
  });
});

describe("sessions", () => {
  it("creates, lists, gets, keeps alive, runs bash and python in, reads files of, and deletes a session", async () => {
    const created = await client.createSession({ ttl_seconds: 120 });
    try {
      expect(created.session_id).toMatch(/^code-session-/);
      expect((await client.listSessions()).map((session) => session.session_id)).toContain(created.session_id);
      expect(await client.getSession(created.session_id)).toEqual({ ...created, runtime: "default", state: "running", memory: false });
      const kept = await client.keepaliveSession(created.session_id, { ttl_seconds: 600 });
      expect(kept.expires_at).toBeGreaterThan(created.expires_at);

      const bash = await client.runBash(created.session_id, { cmd: "mkdir -p d && echo hello > d/note.txt; exit 3" });
      expect(bash).toMatchObject({ stdout: "", exit_code: 3, timed_out: false });
      const python = await client.runPython(created.session_id, { code: "n = 5\nopen('d/note.txt').read()" });
      expect(python).toMatchObject({ stdout: "'hello\\n'\n", exit_code: 0, files: [] });

      const events = await collect(client.streamPython(created.session_id, { code: "print(n * 2)" }));
      const printed = events.flatMap((event) => (event.type === "output" ? [event.data.data] : [])).join("");
      expect(printed).toBe("10\n");
      expect(events.at(-1)).toMatchObject({ type: "result", data: { exit_code: 0 } });

      expect(await client.listSessionFiles(created.session_id)).toContainEqual({ path: "d/note.txt", kind: "file", size_bytes: 6 });
      expect(text(await client.downloadSessionFile(created.session_id, "d/note.txt"))).toBe("hello\n");
      await expect(client.downloadSessionFile(created.session_id, "d/missing.txt")).rejects.toSatisfy((error) =>
        NotFoundError.isInstance(error),
      );

      expect(await client.pauseSession(created.session_id)).toMatchObject({ state: "paused", snapshot: { memory: false } });
      expect(await client.resumeSession(created.session_id)).toMatchObject({ session_id: created.session_id, state: "running" });
      const fork = await client.forkSession(created.session_id, { ttl_seconds: 60 });
      expect(text(await client.downloadSessionFile(fork.session_id, "d/note.txt"))).toBe("hello\n");
      await client.deleteSession(fork.session_id);
    } finally {
      await client.deleteSession(created.session_id);
    }
    const gone = await client.getSession(created.session_id).catch((error: unknown) => error);
    expect(NotFoundError.isInstance(gone)).toBe(true);
    expect(gone).toMatchObject({ status: 404, detail: expect.stringContaining(created.session_id) });
  });
});

describe("errors", () => {
  it("throws NotFoundError with the server's detail for an unknown session", async () => {
    const error = await client.deleteSession("code-session-00000000-0000-0000-0000-000000000000").catch((caught: unknown) => caught);
    expect(CodeInterpreterClientError.isInstance(error)).toBe(true);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect(RateLimitedError.isInstance(error)).toBe(false);
    expect((error as NotFoundError).status).toBe(404);
  });

  it("throws InvalidRequestError whose detail names the field", async () => {
    const error = await client.execute({ code: "1", timeout_ms: 0 }).catch((caught: unknown) => caught);
    expect(InvalidRequestError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ status: 422, detail: expect.stringContaining("timeout_ms") });
  });

  it("network: a server without egress (EGRESS_ALLOW=none) says so, refuses `network` with a typed 422, and answers as ever without it", async () => {
    expect((await client.capabilities()).network).toEqual({ offered: false, secrets: [] });
    const refused = await client.execute({ code: "1", network: { allow_out: ["pypi.org"] } }).catch((caught: unknown) => caught);
    expect(refused).toMatchObject({
      status: 422,
      detail: expect.stringContaining("this server offers no network egress (its operator set EGRESS_ALLOW=none)"),
    });
    const bad = await client.execute({ code: "1", network: { allow_out: ["pypi.org/simple"] } }).catch((caught: unknown) => caught);
    expect(bad).toMatchObject({ status: 422, detail: expect.stringContaining('"pypi.org/simple"') });
    expect(await client.execute({ code: "1" })).not.toHaveProperty("network");
    const { session_id } = await client.createSession({});
    const put = await client.setSessionNetwork(session_id, { allow_out: ["pypi.org"] }).catch((caught: unknown) => caught);
    expect(put).toMatchObject({ status: 422, detail: expect.stringContaining("has no network") });
    await client.deleteSession(session_id);
  });

  it("refuses a stream with a typed error before any event", async () => {
    const error = await collect(client.executeStream({ code: "1", timeout_ms: -5 })).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 422, detail: expect.stringContaining("timeout_ms") });
  });

  // A second server's start-up and close (its sandbox killed) take seconds on a loaded machine.
  it("throws RateLimitedError with Retry-After while every execution slot is taken", { timeout: 30_000 }, async () => {
    // One slot, so a second execution while one runs is refused.
    const limited = await startTestServer("limited", { MAX_CONCURRENT_EXECUTIONS: "1" });
    const client = createCodeInterpreterClient({ baseUrl: limited.url });
    const busy = client.executeStream({ code: "import time\nprint('go', flush=True)\ntime.sleep(30)", timeout_ms: 30_000 });
    const first = await busy.next();
    expect(first.value).toMatchObject({ type: "output" });
    try {
      const error = await client.execute({ code: "1" }).catch((caught: unknown) => caught);
      expect(RateLimitedError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ status: 429, retryAfterSeconds: expect.any(Number) });
    } finally {
      // Leaving the stream cancels the execution on the server.
      await busy.return(undefined);
      await limited.close();
    }
  });

  it("throws TimeoutError when no answer comes within the call's timeout", async () => {
    const error = await client
      .execute({ code: "import time\ntime.sleep(20)", timeout_ms: 20_000 }, { timeoutMs: 300 })
      .catch((caught) => caught);
    expect(TimeoutError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ status: 0, message: expect.stringContaining("300 ms") });
  });

  it("applies the client's default timeout to streams", async () => {
    const quick = createCodeInterpreterClient({ baseUrl: server.url, timeoutMs: 300 });
    const events: StreamEvent[] = [];
    const error = await (async () => {
      for await (const event of quick.executeStream({ code: "import time\nprint('go', flush=True)\ntime.sleep(20)", timeout_ms: 20_000 })) {
        events.push(event);
      }
    })().catch((caught: unknown) => caught);
    expect(TimeoutError.isInstance(error)).toBe(true);
  });

  it("rejects with the signal's reason when the caller aborts", async () => {
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    const running = client.execute({ code: "import time\ntime.sleep(20)", timeout_ms: 20_000 }, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 200);
    await expect(running).rejects.toBe(reason);
    const already = AbortSignal.abort(reason);
    await expect(client.health({ signal: already })).rejects.toBe(reason);
  });

  it("stops a stream when the caller aborts mid-stream", async () => {
    const controller = new AbortController();
    const seen: StreamEvent[] = [];
    const error = await (async () => {
      for await (const event of client.executeStream(
        { code: "import time\nprint('go', flush=True)\ntime.sleep(20)", timeout_ms: 20_000 },
        { signal: controller.signal },
      )) {
        seen.push(event);
        controller.abort();
      }
    })().catch((caught: unknown) => caught);
    // Output may arrive in more than one chunk: the loop stops at the first.
    expect(seen).toEqual([{ type: "output", data: { stream: "stdout", data: expect.stringMatching(/^go/) }, id: "1" }]);
    expect((error as Error).name).toBe("AbortError");
  });

  it("throws ConnectionError when nothing listens", async () => {
    const nowhere = createCodeInterpreterClient({ baseUrl: "http://127.0.0.1:9" });
    const error = await nowhere.listFiles().catch((caught: unknown) => caught);
    expect(ConnectionError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ status: 0, message: expect.stringContaining("cannot reach the server at http://127.0.0.1:9") });
  });
});

describe("options", () => {
  it("sends the API key as a bearer token through the given fetch, and keeps a base path", async () => {
    const seen: { url: string; authorization: string | null }[] = [];
    const recording = createCodeInterpreterClient({
      baseUrl: `${server.url}/`,
      apiKey: "secret-key",
      fetch: async (input, init) => {
        seen.push({ url: String(input), authorization: new Headers(init?.headers).get("authorization") });
        return fetch(input, init);
      },
    });
    await recording.health();
    expect(seen).toEqual([{ url: `${server.url}/health`, authorization: "Bearer secret-key" }]);
  });
});

describe("durable requests", () => {
  it("sends an idempotency key: the repeat is the first answer, not a second run", async () => {
    const idempotencyKey = crypto.randomUUID();
    const first = await client.execute({ code: "import random\nprint(random.random())" }, { idempotencyKey });
    const again = await client.execute({ code: "import random\nprint(random.random())" }, { idempotencyKey });
    expect(again).toEqual(first);
    await expect(client.execute({ code: "print(2)" }, { idempotencyKey })).rejects.toSatisfy((e) => InvalidRequestError.isInstance(e));
  });

  it("submits a background execution, waits for it, streams it from an event id, and deletes it", async () => {
    const accepted = await client.submitExecution({ code: "print('a')\nprint('b')" });
    expect(accepted.status_url).toBe(`/v1/executions/${accepted.execution_id}`);
    const done = await client.waitForExecution(accepted.execution_id);
    expect(done).toMatchObject({ status: "completed", result: { stdout: "a\nb\n" } });
    const events = await collect(client.streamExecution(accepted.execution_id));
    expect(events.at(-1)?.type).toBe("result");
    const tail = await collect(client.streamExecution(accepted.execution_id, { lastEventId: events[0]?.id as string }));
    expect(tail.map((event) => event.id)).toEqual(events.slice(1).map((event) => event.id));
    await client.deleteExecution(accepted.execution_id);
    await expect(client.getExecution(accepted.execution_id)).rejects.toSatisfy((e) => NotFoundError.isInstance(e));
  });

  it("reconnects a stream whose connection drops and yields every event exactly once", async () => {
    // The one double here: a network that cuts the first stream after two events (what a proxy's idle timeout does).
    let cut = false;
    const flaky = createCodeInterpreterClient({
      baseUrl: server.url,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (cut || !String(input).endsWith("/v1/execute/stream")) return response;
        cut = true;
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        let events = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            const { done, value } = await reader.read();
            if (done) return controller.close();
            const text = new TextDecoder().decode(value);
            events += text.split("\n\n").length - 1;
            controller.enqueue(value);
            if (events >= 2) {
              await reader.cancel();
              controller.error(new TypeError("terminated"));
            }
          },
        });
        return new Response(body, { status: response.status, headers: response.headers });
      },
    });
    const code = "import time\nfor i in range(6):\n    print(i, flush=True)\n    time.sleep(0.3)";
    const events = await collect(flaky.executeStream({ code, timeout_ms: 15_000 }));
    expect(cut).toBe(true);
    expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
    expect(events.at(-1)?.type).toBe("result");
    const stdout = events.map((event) => (event.type === "output" ? event.data.data : "")).join("");
    expect(stdout).toBe("0\n1\n2\n3\n4\n5\n");
  });
});
