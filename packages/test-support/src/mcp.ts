import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { type CallToolResult, Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

/**
 * The protocol a test client opens with: the 2026-07-28 revision (pinned, no
 * fallback), or the 2025 `initialize` handshake most desktop agents still use.
 */
export type ProtocolEra = "modern" | "legacy";

function newClient(era: ProtocolEra): Client {
  return new Client(
    { name: "code-interpreter-test", version: "0.0.0" },
    era === "modern" ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {},
  );
}

/** Options of `connectHttp`. */
export interface HttpClientOptions {
  /** Sent as `Authorization: Bearer …`. */
  apiKey?: string;
  era?: ProtocolEra;
  /** Answers the requests instead of the network (an app's `request`, no port). */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Response | Promise<Response>;
}

/** An MCP client of the SDK, connected to the Streamable HTTP endpoint `/mcp` below `url`. */
export async function connectHttp(url: string | URL, options: HttpClientOptions = {}): Promise<Client> {
  const client = newClient(options.era ?? "modern");
  const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  const fetch = options.fetch;
  await client.connect(
    new StreamableHTTPClientTransport(new URL("/mcp", url), {
      requestInit: { headers },
      ...(fetch ? { fetch: async (input: string | URL | Request, init?: RequestInit) => fetch(input, init) } : {}),
    }),
  );
  return client;
}

/** Options of `spawnStdio`: the command an agent's configuration names, as it would start it. */
export interface StdioClientOptions {
  command: string;
  args: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  era?: ProtocolEra;
}

/**
 * The SDK's client talking to `command` over stdio (the SDK first probes the
 * 2026-07-28 revision on a short-lived second copy of the command). Its
 * standard error is kept, for the start-up lines.
 */
export async function spawnStdio(options: StdioClientOptions): Promise<{ client: Client; stderr: () => string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const transport = new StdioClientTransport({
    command: options.command,
    args: options.args,
    env: { ...inherited, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const era = options.era ?? "modern";
  const client = newClient(era);
  await client.connect(transport);
  if (client.getProtocolEra() !== era) throw new Error(`the client speaks the ${client.getProtocolEra()} era, not ${era}`);
  return { client, stderr: () => stderr };
}

/** Calls a tool (two minutes at most: a loaded machine); the answer typed as a tool result. */
export function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  onprogress?: (progress: { progress: number; message?: string }) => void,
): Promise<CallToolResult> {
  return client.callTool({ name, arguments: args }, { timeout: 120_000, ...(onprogress ? { onprogress } : {}) }) as Promise<CallToolResult>;
}

/** The text blocks of a result, joined by newlines. */
export function textOf(result: Pick<CallToolResult, "content">): string {
  return result.content
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join("\n");
}

/** The session id a create_session answer names. */
export function sessionIdOf(result: Pick<CallToolResult, "content">): string {
  const id = /code-session-[0-9a-f-]+/.exec(textOf(result))?.[0];
  if (!id) throw new Error(`no session id in ${textOf(result)}`);
  return id;
}

/** The PNG images of a result, decoded. */
export function pngImagesOf(result: Pick<CallToolResult, "content">): Buffer[] {
  return result.content
    .filter((block) => block.type === "image" && block.mimeType === "image/png")
    .map((block) => Buffer.from((block as { data: string }).data, "base64"));
}

/** Whether `bytes` start with the PNG signature. */
export function isPng(bytes: Buffer): boolean {
  return bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
}

const inspectorPackage = createRequire(import.meta.url).resolve("@modelcontextprotocol/inspector/package.json");
/** The MCP Inspector's command (`mcp-inspector`), as its package declares it. */
export const INSPECTOR = join(
  dirname(inspectorPackage),
  (JSON.parse(readFileSync(inspectorPackage, "utf8")) as { bin: Record<string, string> }).bin["mcp-inspector"] ?? "",
);

/**
 * Runs the MCP Inspector's CLI mode as users do (`mcp-inspector --cli <server> --method …`) and parses its
 * JSON answer (a tool error's too). It keeps a catalog and secrets under HOME: give it a `home` of its own, inside the test's directory.
 */
// biome-ignore lint/suspicious/noExplicitAny: the Inspector prints whatever the method answers
export async function inspect(target: string[], args: string[], options: { home: string; cwd?: string }): Promise<any> {
  const env = { ...process.env, HOME: options.home, MCP_CATALOG_PATH: join(options.home, "mcp.json") };
  const run = await promisify(execFile)(process.execPath, [INSPECTOR, "--cli", ...target, ...args], {
    env,
    cwd: options.cwd ?? options.home,
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: Error & { stdout?: string; stderr?: string }) => {
    // A tool error (isError) ends the Inspector with a failure status, and its answer on stdout.
    if (parsed(error.stdout)?.isError === true) return { stdout: error.stdout as string, stderr: error.stderr ?? "" };
    throw new Error(`the Inspector failed: ${error.message}\nstdout: ${error.stdout}\nstderr: ${error.stderr}`);
  });
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(`the Inspector printed no JSON:\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
}

function parsed(text: string | undefined): { isError?: unknown } | undefined {
  try {
    return JSON.parse(text ?? "");
  } catch {
    return undefined;
  }
}

/** The tools both transports list, sorted by name. */
export const TOOL_NAMES = [
  "create_session",
  "delete_session",
  "execute_python",
  "fork_session",
  "get_execution",
  "list_files",
  "list_sessions",
  "pause_session",
  "read_file",
  "resume_session",
  "run_bash",
  "upload_file",
];

/** Code whose answers carry rich results: a figure, a table, an error, and output that comes over time. */
export const RICH_CODE = {
  figure: "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
  dataFrame: "import pandas as pd\ndisplay(pd.DataFrame({'name': ['ada', 'bob'], 'score': [3, 5]}))",
  /** The table RICH_CODE.dataFrame shows, as text. */
  dataFrameText: /name\s+score\n0\s+ada\s+3\n1\s+bob\s+5/,
  error: "def ratio(a, b):\n    return a / b\nprint('before')\nratio(1, 0)",
  progress: "import time\nfor step in range(3):\n    print(f'step {step}', flush=True)\n    time.sleep(0.5)",
};
