import { type CallToolResult, Client } from "@modelcontextprotocol/client";
import { InMemoryTransport } from "@modelcontextprotocol/server";
import { afterEach, describe, expect, it } from "vitest";
import type { ApiFetch } from "../api.js";
import { createMcpServer } from "../mcp-server.js";
import { TOOLS } from "./index.js";

// The tools are tested here against a scripted HTTP API, to pin down how each answer maps onto MCP content
// (including the executions contract's every status); test/mcp.test.ts and apps/cli/test run them against a real server.

const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const TRACEBACK =
  "Traceback (most recent call last):\n  File \"/workspace/__main__.py\", line 1, in <module>\nNameError: name 'x' is not defined\n";

type Route = (request: { body: Record<string, unknown> | undefined; url: URL }) => Response | Promise<Response>;

/** An ApiFetch answering from `routes` ("METHOD /path"); the requests it saw, in order. */
function scriptedApi(routes: Record<string, Route>): { api: ApiFetch; seen: string[] } {
  const seen: string[] = [];
  const api: ApiFetch = async (path, init) => {
    const url = new URL(path, "http://in-process");
    const key = `${init.method ?? "GET"} ${url.pathname}`;
    seen.push(key);
    const route = routes[key];
    if (!route) return Response.json({ detail: `no route ${key}` }, { status: 404 });
    const body = typeof init.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    return route({ body, url });
  };
  return { api, seen };
}

const answer = (fields: Record<string, unknown> = {}) => ({
  stdout: "",
  stderr: "",
  exit_code: 0,
  timed_out: false,
  duration_ms: 5,
  files: [],
  results: [],
  error: null,
  ...fields,
});

const clients: Client[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

async function connect(api: ApiFetch): Promise<Client> {
  const server = createMcpServer({ api, version: "0.0.0-test" });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "tools-test", version: "0.0.0" });
  await client.connect(clientSide);
  clients.push(client);
  return client;
}

const call = (client: Client, name: string, args: Record<string, unknown>, onprogress?: (progress: { message?: string }) => void) =>
  client.callTool({ name, arguments: args }, onprogress ? { onprogress } : {}) as Promise<CallToolResult>;

describe("the tool list", () => {
  it("registers every tool module once, each with a description and an object schema", async () => {
    const { tools } = await (await connect(scriptedApi({}).api)).listTools();
    expect(tools.map((tool) => tool.name)).toEqual(TOOLS.map((tool) => tool.name));
    expect(new Set(tools.map((tool) => tool.name)).size).toBe(TOOLS.length);
    expect(tools.map((tool) => tool.name)).toContain("get_execution");
    for (const tool of tools) expect(tool.inputSchema.type, tool.name).toBe("object");
  });
});

describe("the sandbox runtime", () => {
  it("goes with execute_python and create_session to the HTTP API, and a session keeps its own", async () => {
    const bodies: Record<string, unknown>[] = [];
    const { api } = scriptedApi({
      "POST /v1/execute": ({ body }) => {
        bodies.push(body ?? {});
        return Response.json(answer({ stdout: "gVisor\n" }));
      },
      "POST /v1/sessions": ({ body }) => {
        bodies.push(body ?? {});
        return Response.json({ session_id: "code-session-1", expires_at: 1_900_000_000 }, { status: 201 });
      },
    });
    const client = await connect(api);
    expect((await call(client, "execute_python", { code: "print(1)", runtime: "gvisor" })).isError).toBeFalsy();
    expect((await call(client, "create_session", { runtime: "gvisor" })).isError).toBeFalsy();
    expect(bodies).toEqual([expect.objectContaining({ runtime: "gvisor" }), expect.objectContaining({ runtime: "gvisor" })]);
    const refused = await call(client, "execute_python", { code: "1", session_id: "code-session-1", runtime: "gvisor" });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain("runtime is chosen when a session is created");
  });

  it("that is no runtime is refused before any request", async () => {
    const { api, seen } = scriptedApi({});
    const refused = await call(await connect(api), "execute_python", { code: "1", runtime: "kata" });
    expect(refused.isError).toBe(true);
    expect(seen).toEqual([]);
  });
});

describe("network", () => {
  it("goes with execute_python and create_session to the HTTP API, and the answer lists what the code tried", async () => {
    const bodies: Record<string, unknown>[] = [];
    const network = [{ host: "evil.example", port: 443, allowed: false, reason: "not in allow_out" }];
    const { api } = scriptedApi({
      "POST /v1/execute": ({ body }) => {
        bodies.push(body ?? {});
        return Response.json(answer({ network }));
      },
      "POST /v1/sessions": ({ body }) => {
        bodies.push(body ?? {});
        return Response.json({ session_id: "code-session-1", expires_at: 1_900_000_000 }, { status: 201 });
      },
      "POST /v1/sessions/code-session-1/bash": () => Response.json({ ...answer({ network }), files: undefined }),
    });
    const client = await connect(api);
    const policy = { allow_out: ["pypi.org"], deny_out: [] };
    const executed = await call(client, "execute_python", { code: "1", network: policy, secrets: ["openai"] });
    expect(JSON.stringify(executed.content)).toContain("[network]\\ndenied evil.example:443 (not in allow_out)");
    await call(client, "create_session", { network: { allow_out: ["*.pythonhosted.org"] } });
    expect(bodies).toEqual([
      expect.objectContaining({ network: policy, secrets: ["openai"] }),
      expect.objectContaining({ network: { allow_out: ["*.pythonhosted.org"], deny_out: [] } }),
    ]);
    const bash = await call(client, "run_bash", { session_id: "code-session-1", cmd: "curl https://evil.example" });
    expect(JSON.stringify(bash.content)).toContain("denied evil.example:443");
    const refused = await call(client, "execute_python", { code: "1", session_id: "code-session-1", network: policy });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain("network and secrets are chosen when a session is created");
  });

  it("that is no policy is refused before any request, naming the entry", async () => {
    const { api, seen } = scriptedApi({});
    const refused = await call(await connect(api), "execute_python", { code: "1", network: { allow_out: ["https://pypi.org"] } });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain("https://pypi.org");
    expect(seen).toEqual([]);
  });
});

describe("execute_python shows what the HTTP answer shows", () => {
  it("answers a figure as image content, inline or fetched by file_id", async () => {
    const { api } = scriptedApi({
      "POST /v1/execute": () =>
        Response.json(
          answer({
            results: [
              { is_main_result: false, data: { "text/plain": "<Figure size 640x480 with 1 Axes>", "image/png": PNG } },
              { is_main_result: false, data: { "text/plain": "<Figure>", "image/png": { file_id: "big-figure" } } },
            ],
          }),
        ),
      "GET /v1/files/big-figure": () =>
        new Response(Buffer.from(PNG, "base64"), { headers: { "content-type": "application/octet-stream" } }),
    });
    const result = await call(await connect(api), "execute_python", { code: "plt.show()" });
    expect(result.isError).toBeFalsy();
    expect(result.content.filter((block) => block.type === "image")).toEqual([
      { type: "image", mimeType: "image/png", data: PNG },
      { type: "image", mimeType: "image/png", data: PNG },
    ]);
    expect(JSON.stringify(result.content)).not.toContain("<Figure");
  });

  it("shows a session figure once, though the session also keeps it as a file", async () => {
    const { api } = scriptedApi({
      "POST /v1/sessions/code-session-1/python": () =>
        Response.json(
          answer({
            files: [{ path: "figure-1-1.png", kind: "file", file_id: "figure-file" }],
            results: [{ is_main_result: false, data: { "text/plain": "<Figure>", "image/png": PNG } }],
            execution_count: 1,
          }),
        ),
      "GET /v1/files/figure-file": () => new Response(Buffer.from(PNG, "base64")),
    });
    const result = await call(await connect(api), "execute_python", { session_id: "code-session-1", code: "plt.show()" });
    expect(result.content.filter((block) => block.type === "image")).toHaveLength(1);
    expect(result.content).toContainEqual(expect.objectContaining({ type: "resource_link", name: "figure-1-1.png" }));
  });

  it("answers a DataFrame as its text table and its HTML as an embedded text/html resource", async () => {
    const table = "   a  b\n0  1  2";
    const html = "<table><tr><td>1</td></tr></table>";
    const { api } = scriptedApi({
      "POST /v1/execute": () =>
        Response.json(answer({ results: [{ is_main_result: false, data: { "text/plain": table, "text/html": html } }] })),
    });
    const result = await call(await connect(api), "execute_python", { code: "display(df)" });
    expect(result.content).toContainEqual({ type: "text", text: table });
    expect(result.content).toContainEqual({
      type: "resource",
      resource: { uri: expect.stringMatching(/^code-interpreter:\/\/results\//), mimeType: "text/html", text: html },
    });
  });

  it("leaves a bare last expression's text to stdout, where the REPL printed it", async () => {
    const { api } = scriptedApi({
      "POST /v1/execute": () =>
        Response.json(answer({ stdout: "42\n", results: [{ is_main_result: true, data: { "text/plain": "42" } }] })),
    });
    const result = await call(await connect(api), "execute_python", { code: "6*7" });
    expect(result.content).toEqual([
      { type: "text", text: "42\n" },
      { type: "text", text: "[exit code 0, 5 ms]" },
    ]);
  });

  it("answers a Python error as a tool error with its name, value and traceback, once", async () => {
    const { api } = scriptedApi({
      "POST /v1/sessions/code-session-1/python": () =>
        Response.json(
          answer({
            stdout: "before\n",
            stderr: TRACEBACK,
            exit_code: 1,
            error: { name: "NameError", value: "name 'x' is not defined", traceback: TRACEBACK },
            execution_count: 3,
          }),
        ),
    });
    const result = await call(await connect(api), "execute_python", { session_id: "code-session-1", code: "print('before')\nx" });
    expect(result.isError).toBe(true);
    const text = result.content.map((block) => (block.type === "text" ? block.text : "")).join("\n");
    expect(text).toContain("before\n");
    expect(text).toContain("[error] NameError: name 'x' is not defined\nTraceback (most recent call last):");
    expect(text.split("Traceback").length - 1).toBe(1);
  });

  it("streams the output so far as progress notifications when the caller asks for progress", async () => {
    const events = [
      ["output", { stream: "stdout", data: "step 1\n" }],
      ["output", { stream: "stderr", data: "warn\n" }],
      ["display", { is_main_result: false, data: { "text/plain": "<Figure>", "image/png": PNG } }],
      ["output", { stream: "stdout", data: "step 2\n" }],
      [
        "result",
        {
          exit_code: 0,
          timed_out: false,
          duration_ms: 9,
          files: [],
          results: [{ is_main_result: false, data: { "text/plain": "<Figure>", "image/png": PNG } }],
          error: null,
        },
      ],
    ] as const;
    const { api, seen } = scriptedApi({
      "POST /v1/execute/stream": () =>
        new Response(events.map(([event, data], id) => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join(""), {
          headers: { "content-type": "text/event-stream" },
        }),
    });
    const messages: string[] = [];
    const result = await call(await connect(api), "execute_python", { code: "long()" }, (progress) =>
      messages.push(progress.message ?? ""),
    );
    expect(seen).toEqual(["POST /v1/execute/stream"]);
    expect(messages).toEqual(["step 1\n", "step 1\nwarn\n", "step 1\nwarn\nstep 2\n"]);
    expect(result.content).toEqual([
      { type: "text", text: "step 1\nstep 2\n" },
      { type: "text", text: "[stderr]\nwarn\n" },
      { type: "image", mimeType: "image/png", data: PNG },
      { type: "text", text: "[exit code 0, 9 ms]" },
    ]);
  });

  it("answers an error event of the stream as a tool error", async () => {
    const { api } = scriptedApi({
      "POST /v1/execute/stream": () => new Response(`event: error\ndata: ${JSON.stringify({ message: "The sandbox went away" })}\n\n`),
    });
    const result = await call(await connect(api), "execute_python", { code: "1" }, () => {});
    expect(result).toEqual({ content: [{ type: "text", text: "The sandbox went away" }], isError: true });
  });
});

describe("background runs and get_execution", () => {
  /** The executions routes as EXECUTIONS-API.md gives them, for one execution that finishes on the third look. */
  function executionsApi(kind: "execute" | "session_bash" | "session_python", finished: Record<string, unknown>) {
    let looks = 0;
    const bodies: unknown[] = [];
    const started: Route = ({ body }) => {
      bodies.push(body);
      return Response.json({ execution_id: "exec-1", status_url: "/v1/executions/exec-1" }, { status: 202 });
    };
    const scripted = scriptedApi({
      "POST /v1/execute": started,
      "POST /v1/sessions/code-session-1/bash": started,
      "GET /v1/executions/exec-1": () => {
        looks += 1;
        const base = { execution_id: "exec-1", kind, created_at: Math.floor(Date.now() / 1000) - 3 };
        return Response.json(
          looks < 3 ? { ...base, status: "running" } : { ...base, finished_at: Math.floor(Date.now() / 1000), ...finished },
        );
      },
      "GET /v1/executions/exec-2": () => Response.json({ detail: "Execution exec-2 not found" }, { status: 404 }),
    });
    return { ...scripted, bodies };
  }

  it("starts execute_python in the background and collects the same content as a foreground call", async () => {
    const { api, bodies } = executionsApi("execute", {
      status: "completed",
      result: answer({ stdout: "done\n", results: [{ is_main_result: false, data: { "text/plain": "<Figure>", "image/png": PNG } }] }),
    });
    const client = await connect(api);
    const started = await call(client, "execute_python", { code: "import time; time.sleep(600)", background: true, timeout_ms: 600_000 });
    expect(bodies).toEqual([{ code: "import time; time.sleep(600)", timeout_ms: 600_000, background: true }]);
    expect(started.content).toEqual([{ type: "text", text: expect.stringContaining('execution_id "exec-1"') }]);
    const running = await call(client, "get_execution", { execution_id: "exec-1" });
    expect(running.isError).toBeFalsy();
    expect(running.content).toEqual([{ type: "text", text: expect.stringMatching(/exec-1 is still running \(\d+ s so far\)/) }]);
    // Waiting: asks again until it is done.
    const done = await call(client, "get_execution", { execution_id: "exec-1", wait_seconds: 10 });
    expect(done.content).toEqual([
      { type: "text", text: "done\n" },
      { type: "image", mimeType: "image/png", data: PNG },
      { type: "text", text: "[exit code 0, 5 ms]" },
    ]);
  });

  it("collects a background run_bash as text, and a failed execution as a tool error", async () => {
    const bash = executionsApi("session_bash", {
      status: "completed",
      result: { stdout: "hi\n", stderr: "", exit_code: 0, timed_out: false, duration_ms: 3 },
    });
    const client = await connect(bash.api);
    await call(client, "run_bash", { session_id: "code-session-1", cmd: "echo hi", background: true });
    expect(bash.bodies).toEqual([{ cmd: "echo hi", timeout_ms: 30_000, background: true }]);
    expect((await call(client, "get_execution", { execution_id: "exec-1", wait_seconds: 10 })).content).toEqual([
      { type: "text", text: "hi\n" },
      { type: "text", text: "[exit code 0, 3 ms]" },
    ]);
    const failed = executionsApi("execute", { status: "failed", error: { detail: "The sandbox could not start" } });
    const other = await connect(failed.api);
    expect(await call(other, "get_execution", { execution_id: "exec-1", wait_seconds: 10 })).toEqual({
      content: [{ type: "text", text: "Execution exec-1 failed: The sandbox could not start" }],
      isError: true,
    });
    const unknown = await call(other, "get_execution", { execution_id: "exec-2" });
    expect(unknown).toEqual({ content: [{ type: "text", text: "Execution exec-2 not found" }], isError: true });
  });
});

describe("pause_session, resume_session and fork_session", () => {
  it("map onto the session's pause, resume and fork routes, and say what was kept", async () => {
    const bodies: Record<string, unknown>[] = [];
    const { api, seen } = scriptedApi({
      "POST /v1/sessions/code-session-1/pause": () =>
        Response.json({
          session_id: "code-session-1",
          state: "paused",
          snapshot: { bytes: 2048, memory: false, created_at: 1_900_000_000 },
        }),
      "POST /v1/sessions/code-session-1/resume": ({ body }) => {
        bodies.push(body ?? {});
        return Response.json({ session_id: "code-session-1", state: "running", expires_at: 1_900_000_600 });
      },
      "POST /v1/sessions/code-session-1/fork": () =>
        Response.json({ session_id: "code-session-2", expires_at: 1_900_000_300 }, { status: 201 }),
    });
    const client = await connect(api);
    const paused = await call(client, "pause_session", { session_id: "code-session-1" });
    expect(JSON.stringify(paused.content)).toContain("a 2048-byte snapshot keeps its files (not its Python variables)");
    const resumed = await call(client, "resume_session", { session_id: "code-session-1", ttl_seconds: 600 });
    expect(JSON.stringify(resumed.content)).toContain("Session code-session-1 is running, expiring at 2030-03-17T17:56:40Z");
    const fork = await call(client, "fork_session", { session_id: "code-session-1" });
    expect(JSON.stringify(fork.content)).toContain('Pass session_id \\"code-session-2\\"');
    expect(bodies).toEqual([{ ttl_seconds: 600 }]);
    expect(seen).toEqual([
      "POST /v1/sessions/code-session-1/pause",
      "POST /v1/sessions/code-session-1/resume",
      "POST /v1/sessions/code-session-1/fork",
    ]);
    // An error is the tool's, with the API's detail.
    const missing = await call(client, "pause_session", { session_id: "code-session-9" });
    expect(missing.isError).toBe(true);
  });
});
