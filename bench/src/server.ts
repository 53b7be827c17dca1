import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface BenchServer {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

const CLI = join(import.meta.dirname, "../../apps/cli/dist/cli.js");

/** Starts `code-interpreter serve` on a free loopback port with the given backend. */
export async function startServer(backend: string, env: Record<string, string>): Promise<BenchServer> {
  const dir = await mkdtemp(join(tmpdir(), "ci-bench-"));
  await chmod(dir, 0o711); // the local sandbox uid reaches session workspaces below it
  const child: ChildProcess = spawn(process.execPath, [CLI, "serve", "--host", "127.0.0.1", "--port", "0", "--backend", backend], {
    env: {
      ...process.env,
      LOG_LEVEL: "warn",
      MAX_CONCURRENT_EXECUTIONS: "64",
      FILE_STORAGE_DIR: join(dir, "files"),
      LOCAL_STATE_DIR: join(dir, "local"),
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  // BENCH_SERVER_LOG=<file>: the server's log (warnings: warm sandboxes that would not start, failed removals) goes there too.
  if (process.env.BENCH_SERVER_LOG) child.stderr?.pipe(createWriteStream(process.env.BENCH_SERVER_LOG, { flags: "a" }));
  const started = new Promise<string>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${seen}`)), 60_000);
    child.stderr?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(seen);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited (${code}): ${seen}`)));
  });
  const url = await started.catch(async (error) => {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  return {
    url,
    pid: child.pid,
    stop: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 15_000)))]);
      clearTimeout(timer); // else it holds the benchmark's exit for 15 s
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resident memory of a process in MB (Linux). */
export async function rssMb(pid: number | undefined): Promise<number> {
  if (!pid) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb / 1024;
}
