import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createLogger, loadConfig, type RunningServer, startServer } from "@code-interpreter/server";
import { dockerAvailable, serverEnv, stateDir } from "@code-interpreter/test-support";
import {
  callTool as call,
  inspect as inspectIn,
  isPng,
  type ProtocolEra,
  pngImagesOf,
  RICH_CODE,
  sessionIdOf,
  spawnStdio,
  TOOL_NAMES,
  textOf,
} from "@code-interpreter/test-support/mcp";
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "./run-cli.js";

const TOOLS = TOOL_NAMES;

const { figure: FIGURE, dataFrame: DATAFRAME, error: ERROR, progress: PROGRESS } = RICH_CODE;

let dir: string;
let removeDir: () => Promise<void>;
beforeAll(async () => {
  // The sandbox uid reaches session workspaces below it.
  ({ path: dir, remove: removeDir } = await stateDir("ci-cli-mcp"));
});
afterAll(() => removeDir?.());

/** What `code-interpreter mcp` needs to keep its state below the test's directory (in `name`), on `backend`. */
function embeddedEnv(backend: string, name = backend): Record<string, string> {
  return serverEnv(join(dir, name), {
    EXECUTOR_BACKEND: backend,
    SANDBOX_POOL_MAX: "0",
    LOG_LEVEL: "warn",
    // The Inspector gives its servers only what -e names: a developer's choice of sandbox root filesystem too.
    ...(process.env.LOCAL_ROOTFS ? { LOCAL_ROOTFS: process.env.LOCAL_ROOTFS } : {}),
  });
}

/** The built CLI's `mcp` command over stdio, as an agent starts it. */
async function spawnMcp(args: string[], env: Record<string, string>, era: ProtocolEra = "modern") {
  return spawnStdio({ command: process.execPath, args: [CLI, ...args], env, cwd: dir, era });
}

/** The MCP Inspector's CLI mode, with a home of its own below the test's directory. */
async function inspect(target: string[], args: string[]) {
  const home = join(dir, "inspector-home");
  await mkdir(home, { recursive: true });
  return inspectIn(target, args, { home, cwd: dir });
}

describe("code-interpreter mcp (stdio, sandboxes in-process)", () => {
  let client: Client;
  let stderr: () => string;
  beforeAll(async () => {
    ({ client, stderr } = await spawnMcp(["mcp"], embeddedEnv("local")));
  }, 120_000);
  afterAll(() => client?.close(), 120_000);

  it("lists the tools", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
  }, 60_000);

  it("runs code, keeps state in a session and lists a file made in one call in the next", async () => {
    expect(textOf(await call(client, "execute_python", { code: "print('hi from stdio')" }))).toContain("hi from stdio\n");
    const sessionId = sessionIdOf(await call(client, "create_session"));
    try {
      await call(client, "execute_python", { session_id: sessionId, code: "import json\nrows = [1, 2, 3]" });
      const wrote = await call(client, "execute_python", {
        session_id: sessionId,
        code: "json.dump(rows, open('rows.json', 'w'))\nlen(rows)",
      });
      expect(textOf(wrote)).toContain("3\n");
      const listing = await call(client, "list_files", { session_id: sessionId });
      expect(textOf(listing)).toContain("rows.json");
      expect(textOf(await call(client, "read_file", { session_id: sessionId, path: "rows.json" }))).toBe("[1, 2, 3]");
      expect(textOf(await call(client, "run_bash", { session_id: sessionId, cmd: "cat rows.json" }))).toContain("[1, 2, 3]");
    } finally {
      await call(client, "delete_session", { session_id: sessionId });
    }
    const gone = await call(client, "run_bash", { session_id: sessionId, cmd: "true" });
    expect(gone.isError).toBe(true);
    expect(textOf(gone)).toMatch(/not found/i);
  }, 120_000);

  it("answers plt.show() in a one-shot run as image content", async () => {
    const shown = await call(client, "execute_python", { code: FIGURE });
    expect(shown.isError).toBeFalsy();
    expect(pngImagesOf(shown).filter(isPng), JSON.stringify(shown.content).slice(0, 500)).toHaveLength(1);
  }, 120_000);

  it("answers a session's figure as image content, a DataFrame as its table and HTML, an error as a tool error", async () => {
    const sessionId = sessionIdOf(await call(client, "create_session"));
    try {
      const figure = await call(client, "execute_python", { session_id: sessionId, code: FIGURE });
      expect(pngImagesOf(figure).filter(isPng)).toHaveLength(1);
      const table = await call(client, "execute_python", { session_id: sessionId, code: DATAFRAME });
      expect(textOf(table)).toMatch(RICH_CODE.dataFrameText);
      expect(table.content).toContainEqual(
        expect.objectContaining({
          type: "resource",
          resource: expect.objectContaining({ mimeType: "text/html", text: expect.stringContaining("<table") }),
        }),
      );
      const failed = await call(client, "execute_python", { session_id: sessionId, code: ERROR });
      expect(failed.isError).toBe(true);
      expect(textOf(failed)).toContain("[error] ZeroDivisionError: division by zero");
      expect(textOf(failed)).toMatch(/line 2, in ratio/);
    } finally {
      await call(client, "delete_session", { session_id: sessionId });
    }
  }, 180_000);

  it("sends progress notifications with the output so far", async () => {
    const messages: string[] = [];
    const result = await call(client, "execute_python", { code: PROGRESS }, ({ message }) => messages.push(message ?? ""));
    expect(textOf(result)).toContain("step 0\nstep 1\nstep 2\n");
    expect(messages.at(-1)).toContain("step 2");
  }, 120_000);

  it("runs in the background and collects the result with get_execution", async () => {
    const started = await call(client, "execute_python", { code: `import time\ntime.sleep(3)\n${FIGURE}`, background: true });
    const executionId = /exec-[0-9a-f-]+/.exec(textOf(started))?.[0] as string;
    expect(executionId, textOf(started)).toBeTruthy();
    const done = await call(client, "get_execution", { execution_id: executionId, wait_seconds: 60 });
    expect(done.isError).toBeFalsy();
    expect(pngImagesOf(done).filter(isPng)).toHaveLength(1);
  }, 120_000);

  it("serves a 2025-era client (the initialize handshake) as well", async () => {
    const legacy = await spawnMcp(["mcp"], embeddedEnv("local", "legacy"), "legacy");
    try {
      expect((await legacy.client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(TOOLS);
      expect(textOf(await call(legacy.client, "execute_python", { code: "print(2 + 3)" }))).toContain("5\n");
    } finally {
      await legacy.client.close();
    }
  }, 120_000);

  it("keeps standard output for the protocol: the start-up note goes to standard error", () => {
    expect(stderr()).toContain("sandboxes run in this process (backend: local)");
  });
});

describe("code-interpreter mcp when its sandboxes cannot start", () => {
  it("still lists the tools, and every call answers why as a tool error", async () => {
    const { client, stderr } = await spawnMcp(["mcp"], {
      ...embeddedEnv("docker"),
      PYTHON_EXECUTOR_DOCKER_IMAGE: "code-interpreter-no-such-image:0",
    });
    try {
      expect((await client.listTools()).tools).toHaveLength(TOOLS.length);
      const result = await call(client, "execute_python", { code: "print(1)" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/docker|engine|code-interpreter-no-such-image/i);
      expect(stderr()).toContain("the sandboxes cannot start");
    } finally {
      await client.close();
    }
  }, 120_000);
});

const docker = await dockerAvailable({
  image: process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest",
  purpose: "the MCP tests on the docker backend",
});

// The executor image has matplotlib; the local sandbox has it once it runs in the prepared root filesystem.
describe.runIf(docker)("code-interpreter mcp on the docker backend", () => {
  let client: Client;
  beforeAll(async () => {
    ({ client } = await spawnMcp(["mcp", "--backend", "docker"], embeddedEnv("docker")));
  }, 120_000);
  afterAll(() => client?.close(), 120_000);

  it("answers a matplotlib figure as a PNG image and a resource link", async () => {
    const sessionId = sessionIdOf(await call(client, "create_session"));
    try {
      const result = await call(client, "execute_python", {
        session_id: sessionId,
        code: "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nplt.show()",
      });
      expect(result.isError).toBeFalsy();
      const image = result.content.find((block) => block.type === "image");
      if (image?.type !== "image") throw new Error(`no image in ${JSON.stringify(result.content).slice(0, 500)}`);
      expect(image.mimeType).toBe("image/png");
      expect(Buffer.from(image.data, "base64").subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(result.content).toContainEqual(expect.objectContaining({ type: "resource_link", mimeType: "image/png" }));
    } finally {
      await call(client, "delete_session", { session_id: sessionId });
    }
  }, 180_000);
});

describe("code-interpreter mcp --url (forwarding to a server)", () => {
  const ACME = "acme-key-0123456789";
  const GLOBEX = "globex-key-0123456789";
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(
      loadConfig({
        PORT: "0",
        ...embeddedEnv("local", "server"),
        API_KEYS: `acme=${ACME},globex=${GLOBEX}`,
      }),
      createLogger({ level: "silent", format: "plain" }),
    );
  }, 120_000);
  afterAll(() => server?.close(), 120_000);

  it("forwards calls with the API key, and the server's refusals come back as tool errors", async () => {
    const acme = await spawnMcp(["mcp", "--url", server.url, "--api-key", ACME], {});
    const globex = await spawnMcp(["mcp", "--url", server.url, "--api-key", GLOBEX], {});
    const stranger = await spawnMcp(["mcp", "--url", server.url, "--api-key", "wrong-key-0123456789"], {});
    try {
      expect(acme.stderr()).toContain(`forwarding tool calls to ${server.url}`);
      const sessionId = sessionIdOf(await call(acme.client, "create_session"));
      await call(acme.client, "execute_python", { session_id: sessionId, code: "secret = 7" });
      expect(textOf(await call(acme.client, "execute_python", { session_id: sessionId, code: "secret * 6" }))).toContain("42");

      const foreign = await call(globex.client, "execute_python", { session_id: sessionId, code: "secret" });
      expect(foreign.isError).toBe(true);
      expect(textOf(foreign)).toMatch(/not found/i);

      const refused = await call(stranger.client, "list_sessions");
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toMatch(/API key is not valid/);
      await call(acme.client, "delete_session", { session_id: sessionId });
    } finally {
      await Promise.all([acme.client.close(), globex.client.close(), stranger.client.close()]);
    }
  }, 180_000);
  it("serves the Inspector over Streamable HTTP at /mcp with the same key", async () => {
    const target = [`${server.url}/mcp`];
    const listed = await inspect(target, ["--header", `Authorization: Bearer ${ACME}`, "--method", "tools/list"]);
    expect(listed.tools.map((tool: { name: string }) => tool.name).sort()).toEqual(TOOLS);
    const called = await inspect(target, [
      "--header",
      `Authorization: Bearer ${ACME}`,
      "--method",
      "tools/call",
      "--tool-name",
      "execute_python",
      "--tool-arg",
      "code=6*7",
    ]);
    expect(called.content[0], JSON.stringify(called)).toEqual({ type: "text", text: "42\n" });
    // The Inspector opens with the 2025 handshake unless told otherwise; in the 2026-07-28 revision too.
    const modern = await inspect(target, [
      "--protocol-era",
      "modern",
      "--header",
      `Authorization: Bearer ${ACME}`,
      "--method",
      "tools/list",
    ]);
    expect(modern.tools.map((tool: { name: string }) => tool.name).sort()).toEqual(TOOLS);
  }, 150_000);
});

describe("the MCP Inspector's CLI mode against code-interpreter mcp", () => {
  // Its stdio servers get only the variables given with -e, as in a user's config.
  const stdio = (...args: string[]) =>
    inspect(
      [process.execPath, CLI, "mcp"],
      [...Object.entries(embeddedEnv("local")).flatMap(([key, value]) => ["-e", `${key}=${value}`]), ...args],
    );

  it("lists the tools with their input schemas", async () => {
    const answer = await stdio("--method", "tools/list");
    expect(answer.tools.map((tool: { name: string }) => tool.name).sort()).toEqual(TOOLS);
    const bash = answer.tools.find((tool: { name: string }) => tool.name === "run_bash");
    expect(bash.inputSchema.required).toEqual(["session_id", "cmd"]);
  }, 150_000);

  it("calls execute_python", async () => {
    const answer = await stdio("--method", "tools/call", "--tool-name", "execute_python", "--tool-arg", "code=print(sum(range(10)))");
    expect(answer.isError).toBeFalsy();
    expect(answer.content[0], JSON.stringify(answer)).toEqual({ type: "text", text: "45\n" });
  }, 150_000);

  it("sees a figure as image content and an error as a tool error", async () => {
    const figure = await stdio(
      "--method",
      "tools/call",
      "--tool-name",
      "execute_python",
      "--tool-arg",
      `code=${FIGURE.replaceAll("\n", "; ")}`,
    );
    expect(figure.content).toContainEqual(expect.objectContaining({ type: "image", mimeType: "image/png" }));
    const error = await stdio("--method", "tools/call", "--tool-name", "execute_python", "--tool-arg", "code=1/0");
    expect(error.isError).toBe(true);
    expect(JSON.stringify(error.content)).toContain("ZeroDivisionError: division by zero");
  }, 150_000);

  it("calls execute_python in the 2026-07-28 revision", async () => {
    const answer = await stdio(
      "--protocol-era",
      "modern",
      "--method",
      "tools/call",
      "--tool-name",
      "execute_python",
      "--tool-arg",
      "code=6*7",
    );
    expect(answer.isError).toBeFalsy();
    expect(answer.content[0], JSON.stringify(answer)).toEqual({ type: "text", text: "42\n" });
  }, 150_000);
});
