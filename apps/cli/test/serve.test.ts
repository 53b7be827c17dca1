import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serverEnv } from "@code-interpreter/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MALLOC_SETTINGS, SEMI_SPACE_FLAG } from "../src/commands/memory-settings.js";
import { CLI } from "./run-cli.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-cli-serve-"));
  await chmod(dir, 0o711);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Starts `code-interpreter serve` on a free port, waits until it listens and answers /health,
 * and returns the environment and arguments its process runs with (after any re-exec: the pid stays the same).
 */
async function serveEnvironment(env: NodeJS.ProcessEnv): Promise<{ environment: Record<string, string>; argv: string[] }> {
  const {
    MALLOC_ARENA_MAX: _a,
    MALLOC_MMAP_THRESHOLD_: _m,
    MALLOC_TRIM_THRESHOLD_: _t,
    CODE_INTERPRETER_MEMORY: _o,
    NODE_OPTIONS: _n,
    ...inherited
  } = process.env;
  const child: ChildProcess = spawn(process.execPath, [CLI, "serve", "--port", "0", "--backend", "local"], {
    env: { ...inherited, ...serverEnv(dir, { LOG_LEVEL: "warn", SANDBOX_POOL_MIN: "0" }), ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr?.on("data", (chunk) => {
        stderr += chunk;
        const match = /listening on (http:\/\/\S+)/.exec(stderr);
        if (match) resolve(match[1] as string);
      });
      child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    expect((await fetch(`${url}/health`)).ok).toBe(true);
    const environ = await readFile(`/proc/${child.pid}/environ`, "utf8");
    const argv = (await readFile(`/proc/${child.pid}/cmdline`, "utf8")).split("\0");
    const environment = Object.fromEntries(
      environ
        .split("\0")
        .filter(Boolean)
        .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
    );
    return { environment, argv };
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

describe.runIf(process.platform === "linux")("code-interpreter serve", () => {
  it("runs the server with glibc's malloc settings and V8's semi-space size that give freed memory back", async () => {
    const { environment, argv } = await serveEnvironment({});
    expect(environment).toMatchObject(MALLOC_SETTINGS);
    expect(argv).toContain(SEMI_SPACE_FLAG);
  }, 60_000);

  it("leaves settings the user chose alone", async () => {
    const { environment, argv } = await serveEnvironment({ MALLOC_ARENA_MAX: "4", NODE_OPTIONS: "--max-semi-space-size=8" });
    expect(environment.MALLOC_ARENA_MAX).toBe("4");
    expect(environment.MALLOC_MMAP_THRESHOLD_).toBeUndefined();
    expect(argv).not.toContain(SEMI_SPACE_FLAG);
  }, 60_000);

  it("sets none with CODE_INTERPRETER_MEMORY=default", async () => {
    const { environment, argv } = await serveEnvironment({ CODE_INTERPRETER_MEMORY: "default" });
    for (const name of Object.keys(MALLOC_SETTINGS)) expect(environment[name]).toBeUndefined();
    expect(argv).not.toContain(SEMI_SPACE_FLAG);
  }, 60_000);
});
