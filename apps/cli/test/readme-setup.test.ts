import { execFile, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { serverEnv, stateDir } from "@code-interpreter/test-support";
import { callTool, spawnStdio, textOf } from "@code-interpreter/test-support/mcp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const git = async (...args: string[]) => (await run("git", args, { cwd: import.meta.dirname })).stdout.trim();

// The README's set-up, from a clean clone of this checkout's commit: `bash scripts/bootstrap.sh`, then its CLI and
// MCP lines as a user types them, finding `code-interpreter` on PATH. The clone's build reuses this checkout's
// turbo cache (the same commit builds to the same artefacts; a miss only makes it slower), and bootstrap
// installs the command into a bin directory of the test's own instead of /usr/local/bin.
describe("the README's set-up, from a clean clone", { timeout: 600_000 }, () => {
  let dir: { path: string; remove(): Promise<void> };
  let clone: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await stateDir("ci-readme-setup");
    clone = join(dir.path, "clone");
    await git("clone", "--quiet", await git("rev-parse", "--show-toplevel"), clone);
    const bin = join(dir.path, "bin");
    const turboCache =
      process.env.TURBO_CACHE_DIR || join(dirname(await git("rev-parse", "--path-format=absolute", "--git-common-dir")), ".turbo/cache");
    const inherited = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
    await run("bash", ["scripts/bootstrap.sh"], {
      cwd: clone,
      env: { ...inherited, CODE_INTERPRETER_BIN_DIR: bin, TURBO_CACHE_DIR: turboCache },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((error: Error & { stderr?: string }) => {
      throw new Error(`bootstrap failed: ${error.message}\n${error.stderr}`);
    });
    // A user's shell after the set-up: the bin directory on PATH, the sandboxes' state below the test's directory.
    env = {
      ...inherited,
      PATH: `${bin}:${process.env.PATH}`,
      ...serverEnv(join(dir.path, "state"), { SANDBOX_POOL_MAX: "0", LOG_LEVEL: "warn" }),
    };
  }, 600_000);
  afterAll(() => dir?.remove());

  it("puts code-interpreter on PATH, and pnpm exec finds it in the checkout", async () => {
    const shell = await run("sh", ["-c", "command -v code-interpreter && code-interpreter --help"], { env, cwd: dir.path });
    expect(shell.stdout).toContain(join(dir.path, "bin/code-interpreter"));
    expect(shell.stdout).toContain("Usage: code-interpreter");
    const pnpm = await run("pnpm", ["exec", "code-interpreter", "exec", "--help"], { env, cwd: clone });
    expect(pnpm.stdout).toContain("Usage: code-interpreter exec");
  });

  it("runs `code-interpreter serve` and `code-interpreter exec script.py`", async () => {
    const server = spawn("code-interpreter", ["serve", "--port", "0"], { env, cwd: dir.path, stdio: ["ignore", "ignore", "pipe"] });
    const exited = new Promise((resolve) => server.once("exit", resolve));
    try {
      let stderr = "";
      const url = await new Promise<string>((resolve, reject) => {
        server.stderr.on("data", (chunk) => {
          stderr += chunk;
          const match = /listening on (http:\/\/\S+)/.exec(stderr);
          if (match) resolve(match[1] as string);
        });
        server.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
      });
      await writeFile(join(dir.path, "script.py"), "print(sum(range(10)))\n");
      const exec = await run("code-interpreter", ["exec", "script.py"], { env: { ...env, CODE_INTERPRETER_URL: url }, cwd: dir.path });
      expect(exec.stdout).toBe("45\n");
    } finally {
      server.kill("SIGTERM");
      await exited;
    }
  }, 180_000);

  it('serves MCP to a client configured with {"command": "code-interpreter", "args": ["mcp"]}', async () => {
    const { client } = await spawnStdio({ command: "code-interpreter", args: ["mcp"], env, cwd: dir.path });
    try {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(["execute_python", "run_bash", "get_execution"]));
      const result = await callTool(client, "execute_python", { code: "print(6 * 7)" });
      expect(result.isError).toBeFalsy();
      expect(textOf(result)).toContain("42\n");
    } finally {
      await client.close();
    }
  }, 180_000);
});
