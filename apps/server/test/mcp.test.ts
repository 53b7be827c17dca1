import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { dockerAvailable } from "@code-interpreter/test-support";
import {
  callTool as call,
  connectHttp,
  inspect,
  isPng,
  type ProtocolEra,
  pngImagesOf,
  RICH_CODE,
  sessionIdOf,
  TOOL_NAMES,
  textOf,
} from "@code-interpreter/test-support/mcp";
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, json, type LiveServer, startLiveServer, type TestApp } from "./fixture.js";

const ACME = "acme-key-0123456789";
const GLOBEX = "globex-key-0123456789";
const OPS = "ops-admin-key-0123456789";

const TOOLS = TOOL_NAMES;

const { figure: FIGURE, dataFrame: DATAFRAME, error: ERROR, progress: PROGRESS } = RICH_CODE;

/** An MCP client connected to `/mcp` of the server at `url` (or of `app`, without a port) with `key`. */
function connect(url: string, key?: string, app?: TestApp["app"], era: ProtocolEra = "modern"): Promise<Client> {
  return connectHttp(url, { era, ...(key ? { apiKey: key } : {}), ...(app ? { fetch: (input, init) => app.request(input, init) } : {}) });
}

// Generous timeouts: a busy two-core machine, sandboxes in a prepared root filesystem.
describe("MCP over Streamable HTTP at /mcp", { timeout: 120_000 }, () => {
  let server: LiveServer;
  let acme: Client;
  let globex: Client;
  const sessions: string[] = [];

  beforeAll(async () => {
    server = await startLiveServer({
      API_KEYS: `acme=${ACME},globex=${GLOBEX}`,
      ADMIN_API_KEYS: `ops=${OPS}`,
    });
    acme = await connect(server.url, ACME);
    globex = await connect(server.url, GLOBEX);
  }, 120_000);
  afterAll(async () => {
    for (const id of sessions) await call(acme, "delete_session", { session_id: id }).catch(() => {});
    await acme?.close();
    await globex?.close();
    await server?.stop();
  }, 120_000);

  it("lists the tools, each with a description and a JSON Schema of its input", async () => {
    const { tools } = await acme.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
    for (const tool of tools) {
      expect(tool.description?.length).toBeGreaterThan(40);
      expect(tool.inputSchema.type).toBe("object");
    }
    const execute = tools.find((tool) => tool.name === "execute_python");
    expect(execute?.inputSchema.required).toEqual(["code"]);
    expect(Object.keys(execute?.inputSchema.properties ?? {})).toEqual(expect.arrayContaining(["code", "session_id", "timeout_ms"]));
  });

  it("speaks the 2026-07-28 revision without protocol sessions, and serves 2025-era clients per request too", async () => {
    expect(acme.getProtocolEra()).toBe("modern");
    const legacy = await connect(server.url, ACME, undefined, "legacy");
    try {
      expect(legacy.getProtocolEra()).toBe("legacy");
      expect((await legacy.listTools()).tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
      expect(textOf(await call(legacy, "execute_python", { code: "6*7" }))).toContain("42");
    } finally {
      await legacy.close();
    }
    // A 2025 handshake is answered without an Mcp-Session-Id: nothing ties the client to this replica.
    const initialize = await fetch(new URL("/mcp", server.url), {
      method: "POST",
      headers: { authorization: `Bearer ${ACME}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "curl", version: "0" } },
      }),
    });
    expect(initialize.status).toBe(200);
    expect(initialize.headers.get("mcp-session-id")).toBeNull();
    expect(initialize.headers.get("x-request-id")).toMatch(/^[\w-]+$/);
    // The 2025 leg answers as an SSE stream with one message, as 2025-era clients accept.
    const body = await initialize.text();
    const message = JSON.parse(/^data: (.*)$/m.exec(body)?.[1] ?? body) as { result: { serverInfo: { name: string } } };
    expect(message.result.serverInfo.name).toBe("code-interpreter");
  });

  it("runs Python and answers with stdout, stderr and the exit code as text", async () => {
    const result = await call(acme, "execute_python", { code: "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\n6*7" });
    expect(result.isError).toBeFalsy();
    const text = textOf(result);
    expect(text).toContain("hello\n42");
    expect(text).toContain("[stderr]\noops");
    expect(text).toMatch(/\[exit code 0, \d+ ms\]/);
    const failed = await call(acme, "execute_python", { code: "raise SystemExit(3)" });
    expect(textOf(failed)).toMatch(/\[exit code 3,/);
  });

  it("keeps variables and files across calls in a session, and lists a file made in one call in the next", async () => {
    const created = await call(acme, "create_session", { ttl_seconds: 600 });
    expect(created.isError).toBeFalsy();
    const sessionId = sessionIdOf(created);
    sessions.push(sessionId);
    expect(textOf(await call(acme, "list_sessions"))).toContain(sessionId);

    await call(acme, "execute_python", { session_id: sessionId, code: "answer = 41" });
    expect(textOf(await call(acme, "execute_python", { session_id: sessionId, code: "answer + 1" }))).toContain("42");

    const bash = await call(acme, "run_bash", { session_id: sessionId, cmd: "mkdir -p out && echo made-by-bash > out/note.txt && pwd" });
    expect(textOf(bash)).toContain("/workspace");
    const listing = await call(acme, "list_files", { session_id: sessionId });
    expect(textOf(listing)).toMatch(/out\/note\.txt\s+13 bytes/);
    const link = listing.content.find((block) => block.type === "resource_link" && block.name === "out/note.txt");
    expect(link).toMatchObject({ uri: `code-interpreter://sessions/${sessionId}/files/out/note.txt`, mimeType: "text/plain" });
    if (link?.type !== "resource_link") throw new Error("no resource link");
    expect(textOf(await call(acme, "read_file", { uri: link.uri }))).toBe("made-by-bash\n");
    // Clients that fetch links themselves read the same file with resources/read.
    expect((await acme.readResource({ uri: link.uri })).contents).toEqual([
      { uri: link.uri, mimeType: "text/plain", text: "made-by-bash\n" },
    ]);
    await expect(globex.readResource({ uri: link.uri })).rejects.toThrow(/not found/i);
    expect(textOf(await call(acme, "read_file", { session_id: sessionId, path: "out/note.txt" }))).toBe("made-by-bash\n");
  });

  it("pauses, resumes and forks a session: the files are kept, and another tenant's id is a tool error", async () => {
    const sessionId = sessionIdOf(await call(acme, "create_session", { ttl_seconds: 600, on_expire: "pause" }));
    sessions.push(sessionId);
    await call(acme, "run_bash", { session_id: sessionId, cmd: "echo kept > note.txt" });
    expect((await call(globex, "pause_session", { session_id: sessionId })).isError).toBe(true);
    expect(textOf(await call(acme, "pause_session", { session_id: sessionId }))).toMatch(/^Paused session .*snapshot keeps its files/);
    const fork = await call(acme, "fork_session", { session_id: sessionId });
    const forkId = sessionIdOf(fork);
    sessions.push(forkId);
    expect(textOf(await call(acme, "resume_session", { session_id: sessionId }))).toContain(`Session ${sessionId} is running`);
    for (const id of [sessionId, forkId])
      expect(textOf(await call(acme, "run_bash", { session_id: id, cmd: "cat note.txt" }))).toContain("kept");
  });

  it("uploads text and binary files into a session and into the file store", async () => {
    const sessionId = sessionIdOf(await call(acme, "create_session", {}));
    sessions.push(sessionId);
    const uploaded = await call(acme, "upload_file", { session_id: sessionId, path: "data/in.csv", content: "a,b\n1,2\n" });
    expect(uploaded.isError).toBeFalsy();
    const binary = Buffer.from([0, 1, 2, 255, 254]).toString("base64");
    await call(acme, "upload_file", { session_id: sessionId, path: "blob.bin", content: binary, encoding: "base64" });
    const read = await call(acme, "execute_python", {
      session_id: sessionId,
      code: "import csv\nprint(list(csv.reader(open('data/in.csv'))))\nprint(list(open('blob.bin','rb').read()))",
    });
    expect(textOf(read)).toContain("[['a', 'b'], ['1', '2']]\n[0, 1, 2, 255, 254]");
    expect(textOf(await call(acme, "read_file", { session_id: sessionId, path: "blob.bin" }))).toContain(binary);

    const stored = await call(acme, "upload_file", { path: "numbers.txt", content: "1 2 3" });
    const fileId = /file_id ([0-9a-zA-Z_-]+)/.exec(textOf(stored))?.[1];
    expect(fileId).toBeTruthy();
    const staged = await call(acme, "execute_python", {
      code: "print(sum(map(int, open('in/numbers.txt').read().split())))\nopen('total.txt', 'w').write('6')",
      files: [{ path: "in/numbers.txt", file_id: fileId }],
    });
    expect(textOf(staged)).toContain("6\n");
    const produced = staged.content.find((block) => block.type === "resource_link" && block.name === "total.txt");
    if (produced?.type !== "resource_link") throw new Error(`no link to total.txt in ${JSON.stringify(staged.content)}`);
    expect(textOf(await call(acme, "read_file", { uri: produced.uri }))).toBe("6");
    expect(textOf(await call(acme, "list_files"))).toContain("numbers.txt");
  });

  it("answers a PNG the code wrote as image content and a resource link", async () => {
    // A 1x1 PNG written byte by byte: no matplotlib needed (the figure test runs where matplotlib is).
    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    const result = await call(acme, "execute_python", { code: `import base64\nopen('dot.png', 'wb').write(base64.b64decode('${png}'))` });
    expect(result.content).toContainEqual({ type: "image", mimeType: "image/png", data: png });
    const link = result.content.find((block) => block.type === "resource_link" && block.name === "dot.png");
    expect(link).toMatchObject({ mimeType: "image/png", uri: expect.stringMatching(/^code-interpreter:\/\/files\//) });
    if (link?.type !== "resource_link") throw new Error("no resource link");
    expect((await acme.readResource({ uri: link.uri })).contents).toEqual([{ uri: link.uri, mimeType: "image/png", blob: png }]);
  });

  it("answers plt.show() in a one-shot run as image content, as the HTTP answer's results carry it", async () => {
    const shown = await call(acme, "execute_python", { code: FIGURE });
    expect(shown.isError).toBeFalsy();
    const images = pngImagesOf(shown);
    expect(images.length, JSON.stringify(shown.content).slice(0, 500)).toBe(1);
    expect(isPng(images[0] as Buffer)).toBe(true);
    expect(textOf(shown)).not.toContain("<Figure");
  });

  it("answers a session's display() figure as image content", async () => {
    const sessionId = sessionIdOf(await call(acme, "create_session"));
    sessions.push(sessionId);
    await call(acme, "execute_python", { session_id: sessionId, code: "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()" });
    const displayed = await call(acme, "execute_python", { session_id: sessionId, code: "ax.bar(['a', 'b'], [3, 5])\ndisplay(fig)" });
    expect(displayed.isError).toBeFalsy();
    expect(pngImagesOf(displayed).filter(isPng).length).toBeGreaterThanOrEqual(1);
  });

  it("answers a DataFrame as its text table, with its HTML as an embedded text/html resource", async () => {
    const result = await call(acme, "execute_python", { code: DATAFRAME });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toMatch(RICH_CODE.dataFrameText);
    const html = result.content.find((block) => block.type === "resource");
    expect(html).toMatchObject({ resource: { mimeType: "text/html", text: expect.stringContaining("<table") } });
  });

  it("answers a Python error as a tool error with its name, value and the code's own traceback", async () => {
    const result = await call(acme, "execute_python", { code: ERROR });
    expect(result.isError).toBe(true);
    const text = textOf(result);
    expect(text).toContain("before\n");
    expect(text).toContain("[error] ZeroDivisionError: division by zero");
    expect(text).toMatch(/line 2, in ratio/);
    expect(text).not.toMatch(/runner|site-packages/);
  });

  it("sends progress notifications with the output so far when the client asks for them", async () => {
    const messages: string[] = [];
    const result = await call(acme, "execute_python", { code: PROGRESS }, ({ message }) => messages.push(message ?? ""));
    expect(textOf(result)).toContain("step 0\nstep 1\nstep 2\n");
    expect(messages.length).toBeGreaterThanOrEqual(1);
    expect(messages.at(-1)).toContain("step 2");
    expect(messages.every((message, index) => index === 0 || message.startsWith(messages[index - 1] as string))).toBe(true);
  });

  it("runs in the background and collects the same content with get_execution; other tenants cannot", async () => {
    const started = await call(acme, "execute_python", { code: `import time\ntime.sleep(5)\n${FIGURE}`, background: true });
    expect(started.isError).toBeFalsy();
    const executionId = /exec-[0-9a-f-]+/.exec(textOf(started))?.[0] as string;
    expect(executionId).toBeTruthy();
    expect(textOf(await call(acme, "get_execution", { execution_id: executionId }))).toMatch(/is still running \(\d+ s so far\)/);
    const foreign = await call(globex, "get_execution", { execution_id: executionId });
    expect(foreign.isError).toBe(true);
    expect(textOf(foreign)).toMatch(/not found/i);
    const done = await call(acme, "get_execution", { execution_id: executionId, wait_seconds: 60 });
    expect(done.isError).toBeFalsy();
    expect(pngImagesOf(done).filter(isPng)).toHaveLength(1);
    expect(textOf(done)).toMatch(/\[exit code 0, \d+ ms\]/);

    const sessionId = sessionIdOf(await call(acme, "create_session"));
    sessions.push(sessionId);
    const bash = await call(acme, "run_bash", { session_id: sessionId, cmd: "sleep 1; echo from-the-background", background: true });
    const bashId = /exec-[0-9a-f-]+/.exec(textOf(bash))?.[0] as string;
    expect(textOf(await call(acme, "get_execution", { execution_id: bashId, wait_seconds: 60 }))).toContain("from-the-background\n");
  });

  it("shows the figure, the table and the error to the MCP Inspector's CLI too", async () => {
    const home = join(server.dir, "inspector-home");
    await mkdir(home, { recursive: true });
    const target = [
      `${server.url}/mcp`,
      "--header",
      `Authorization: Bearer ${ACME}`,
      "--method",
      "tools/call",
      "--tool-name",
      "execute_python",
    ];
    const figure = await inspect(target, ["--tool-arg", `code=${FIGURE.replaceAll("\n", "; ")}`], { home });
    expect(figure.content).toContainEqual(expect.objectContaining({ type: "image", mimeType: "image/png" }));
    const table = await inspect(target, ["--tool-arg", `code=${DATAFRAME.replaceAll("\n", "; ")}`], { home });
    expect(table.content).toContainEqual(
      expect.objectContaining({ type: "resource", resource: expect.objectContaining({ mimeType: "text/html" }) }),
    );
    const error = await inspect(target, ["--tool-arg", "code=1/0"], { home });
    expect(error.isError).toBe(true);
    expect(JSON.stringify(error.content)).toContain("ZeroDivisionError");
  }, 150_000);

  it("answers refusals as tool errors with the reason, never as protocol errors", async () => {
    const missing = await call(acme, "run_bash", { session_id: "code-session-00000000-0000-0000-0000-000000000000", cmd: "true" });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/not found/i);
    const tooLong = await call(acme, "execute_python", { code: "1", timeout_ms: 10_000_000 });
    expect(tooLong.isError).toBe(true);
    expect(textOf(tooLong)).toMatch(/timeout_ms/);
    const badPath = await call(acme, "read_file", { session_id: sessions[0], path: "../etc/passwd" });
    expect(badPath.isError).toBe(true);
    expect(textOf(badPath)).toMatch(/'\.\.' is not allowed/);
    await call(acme, "run_bash", { session_id: sessions[0], cmd: "head -c 11000000 /dev/zero > big.bin" });
    const big = await call(acme, "read_file", { session_id: sessions[0], path: "big.bin" });
    expect(big.isError).toBe(true);
    expect(textOf(big)).toMatch(/11000000 bytes, more than read_file returns/);
    await call(acme, "run_bash", { session_id: sessions[0], cmd: "rm big.bin" });
    const unnamed = await call(acme, "read_file", {});
    expect(unnamed.isError).toBe(true);
    const invalid = await call(acme, "execute_python", {});
    expect(invalid.isError).toBe(true);
    expect(textOf(invalid)).toMatch(/code/);
  });

  it("refuses a missing or wrong key before any tool runs", async () => {
    await expect(connect(server.url, "wrong-key-0123456789")).rejects.toThrow(/401|Unauthorized|not valid/i);
    await expect(connect(server.url)).rejects.toThrow(/401|Unauthorized|required/i);
  });

  it("keeps tenants apart: another tenant's session is not found and not listed", async () => {
    const sessionId = sessions[0] as string;
    for (const [name, args] of [
      ["execute_python", { session_id: sessionId, code: "1" }],
      ["run_bash", { session_id: sessionId, cmd: "ls" }],
      ["list_files", { session_id: sessionId }],
      ["read_file", { session_id: sessionId, path: "out/note.txt" }],
      ["upload_file", { session_id: sessionId, path: "x.txt", content: "x" }],
      ["delete_session", { session_id: sessionId }],
    ] as const) {
      const result = await call(globex, name, args);
      expect(result.isError, name).toBe(true);
      expect(textOf(result), name).toMatch(/not found/i);
    }
    expect(textOf(await call(globex, "list_sessions"))).toBe("No sessions.");
    expect(textOf(await call(globex, "list_files"))).toBe("No stored files.");
    expect(textOf(await call(acme, "list_sessions"))).toContain(sessionId);
  });

  it('counts MCP executions under interface="mcp" and HTTP ones under interface="http"', async () => {
    await fetch(new URL("/v1/execute", server.url), {
      method: "POST",
      headers: { authorization: `Bearer ${ACME}`, "content-type": "application/json" },
      body: JSON.stringify({ code: "print(1)" }),
    });
    const metrics = await (await fetch(new URL("/metrics", server.url), { headers: { authorization: `Bearer ${OPS}` } })).text();
    expect(metrics).toMatch(/^code_interpreter_executions_total\{backend="local",kind="execute",outcome="ok",interface="mcp"\} [1-9]/m);
    expect(metrics).toMatch(/^code_interpreter_executions_total\{backend="local",kind="python",outcome="ok",interface="mcp"\} [1-9]/m);
    expect(metrics).toMatch(/^code_interpreter_executions_total\{backend="local",kind="bash",outcome="ok",interface="mcp"\} [1-9]/m);
    expect(metrics).toMatch(/^code_interpreter_executions_total\{backend="local",kind="execute",outcome="ok",interface="http"\} 1$/m);
  });

  it("answers GET and DELETE with 405 (stateless) and refuses a foreign web origin", async () => {
    const get = await fetch(new URL("/mcp", server.url), { headers: { authorization: `Bearer ${ACME}`, accept: "text/event-stream" } });
    expect(get.status).toBe(405);
    const foreign = await fetch(new URL("/mcp", server.url), {
      method: "POST",
      headers: {
        authorization: `Bearer ${ACME}`,
        origin: "http://evil.example",
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(foreign.status).toBe(403);
  });
});

describe("MCP calls share the HTTP API's limits", { timeout: 120_000 }, () => {
  let test: TestApp;
  beforeAll(async () => {
    test = await createTestApp({ API_KEYS: `acme=${ACME}`, TENANT_MAX_SESSIONS: "1" });
  }, 120_000);
  afterAll(() => test?.close(), 120_000);

  it("refuses a session past the tenant's quota, counting the one made over HTTP, as a tool error", async () => {
    const created = await test.app.request("/v1/sessions", {
      method: "POST",
      headers: { authorization: `Bearer ${ACME}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(created.status).toBe(201);
    const client = await connect("http://in-process", ACME, test.app);
    try {
      const refused = await call(client, "create_session");
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toMatch(/TENANT_MAX_SESSIONS=1.*\(retry after \d+ s\)/);
      const { session_id } = await json(created);
      expect(textOf(await call(client, "delete_session", { session_id }))).toBe(`Deleted session ${session_id}.`);
      const allowed = await call(client, "create_session");
      expect(allowed.isError).toBeFalsy();
      await call(client, "delete_session", { session_id: sessionIdOf(allowed) });
    } finally {
      await client.close();
    }
  });
});

const docker = await dockerAvailable({
  image: process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest",
  purpose: "the MCP tests on the docker backend",
});

// The executor image has matplotlib; the local sandbox has it once it runs in the prepared root filesystem.
describe.runIf(docker)("MCP at /mcp on the docker backend", () => {
  let server: LiveServer;
  let client: Client;
  beforeAll(async () => {
    server = await startLiveServer({ EXECUTOR_BACKEND: "docker", SANDBOX_POOL_MAX: "0" });
    client = await connect(server.url);
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  }, 120_000);

  it("answers a matplotlib figure as a PNG image, in a session and in a one-shot run", async () => {
    const sessionId = sessionIdOf(await call(client, "create_session"));
    try {
      const shown = await call(client, "execute_python", {
        session_id: sessionId,
        code: "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()",
      });
      const image = shown.content.find((block) => block.type === "image");
      if (image?.type !== "image") throw new Error(`no image in ${JSON.stringify(shown.content).slice(0, 500)}`);
      expect(image.mimeType).toBe("image/png");
      expect(Buffer.from(image.data, "base64").subarray(1, 4).toString()).toBe("PNG");
    } finally {
      await call(client, "delete_session", { session_id: sessionId });
    }
    const saved = await call(client, "execute_python", {
      code: "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [3, 5])\nplt.savefig('bars.png')",
    });
    expect(saved.content).toContainEqual(expect.objectContaining({ type: "image", mimeType: "image/png" }));
    expect(saved.content).toContainEqual(expect.objectContaining({ type: "resource_link", name: "bars.png" }));
  }, 180_000);
});
