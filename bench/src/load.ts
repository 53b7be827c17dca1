// Load and soak test of a code-interpreter server on loopback. Usage:
//   node bench/src/load.ts [--backend local|docker] [--quick] [--soak N] [--max-concurrent N]
// 1. Burst: three times MAX_CONCURRENT_EXECUTIONS executions at once. Every
//    answer must be 200, or 429/503 with Retry-After; never a 500.
// 2. Soak: N executions (thousands; --quick: 300) at MAX_CONCURRENT_EXECUTIONS
//    in parallel, sampling the server's RSS, open file descriptors and
//    sandboxes. Once idle, descriptors and sandboxes must be back where they
//    started, and RSS must have levelled off (its peaks not rising in the second half).
// It prints its figures and exits 1 when a check fails.
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "local" },
    quick: { type: "boolean", default: false },
    soak: { type: "string" },
    "max-concurrent": { type: "string", default: "4" },
  },
});
const backend = args.backend as string;
const maxConcurrent = Number(args["max-concurrent"]);
const soakCount = Number(args.soak ?? (args.quick ? 300 : 3000));
/**
 * RSS grows while V8 collects lazily and the allocator keeps freed pages, then
 * levels off (bench/README.md): its peaks in the second half of the soak may
 * pass those of the first half by this much, and the whole soak at most RSS_CEILING_MB.
 */
const RSS_SECOND_HALF_LIMIT_MB = 32;
const RSS_CEILING_MB = 256;
/** Descriptors that may come and go (keep-alive sockets, log files). */
const FD_SLACK = 16;
const SERVER_MAIN = join(import.meta.dirname, "../../apps/server/dist/main.js");

const failures: string[] = [];
const check = (ok: boolean, message: string) => {
  if (!ok) failures.push(message);
};

const dir = await mkdtemp(join(tmpdir(), "ci-load-"));
await chmod(dir, 0o711); // the local sandbox uid reaches session workspaces below it
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const server: ChildProcess = spawn(process.execPath, [SERVER_MAIN], {
  env: {
    ...process.env,
    HOST: "127.0.0.1",
    PORT: String(port),
    EXECUTOR_BACKEND: backend,
    MAX_CONCURRENT_EXECUTIONS: String(maxConcurrent),
    SANDBOX_PRELOAD: "none",
    LOG_LEVEL: "warn",
    FILE_STORAGE_DIR: join(dir, "files"),
    LOCAL_STATE_DIR: join(dir, "local"),
  },
  stdio: ["ignore", "inherit", "inherit"],
});
const pid = server.pid as number;
const exited = new Promise((resolve) => server.once("exit", resolve));

try {
  await waitFor("the server to answer /health", async () => (await fetch(`${url}/health`)).ok, 120_000);
  await burst();
  await soak();
} catch (error) {
  failures.push((error as Error).message);
} finally {
  server.kill("SIGTERM");
  await Promise.race([exited, sleep(30_000)]);
  server.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
}
if (failures.length > 0) {
  console.error(`\nFAILED:\n${failures.map((failure) => `  - ${failure}`).join("\n")}`);
  process.exit(1);
}
console.log("\nall checks passed");

async function burst(): Promise<void> {
  const size = maxConcurrent * 3;
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: size }, () => execute("import time\ntime.sleep(0.5)\nprint('ok')", 20_000).catch((error: Error) => error)),
  );
  const tally: Record<string, number> = {};
  for (const answer of answers) {
    const key = answer instanceof Error ? `error: ${answer.message}` : String(answer.status);
    tally[key] = (tally[key] ?? 0) + 1;
    if (answer instanceof Error) continue;
    if (answer.status === 429 || answer.status === 503) check(answer.retryAfter !== null, `${answer.status} without Retry-After`);
    else check(answer.status === 200 && answer.stdout === "ok\n", `burst answer ${answer.status}: ${answer.text.slice(0, 200)}`);
  }
  const elapsed = (performance.now() - started) / 1000;
  console.log(`burst: ${size} executions at once (MAX_CONCURRENT_EXECUTIONS=${maxConcurrent}) in ${elapsed.toFixed(1)} s:`, tally);
  check((tally["200"] ?? 0) >= 1, "no execution of the burst succeeded");
  check(
    Object.keys(tally).every((key) => ["200", "429", "503"].includes(key)),
    `unexpected answers in the burst: ${JSON.stringify(tally)}`,
  );
}

async function soak(): Promise<void> {
  // Warm-up, so that the baseline includes what the first requests allocate for good.
  await runMany(Math.min(50, soakCount), maxConcurrent);
  await settle();
  const baseline = await sample();
  console.log(`soak: ${soakCount} executions, ${maxConcurrent} at a time; baseline`, show(baseline));
  const samples = [baseline];
  const step = Math.max(1, Math.floor(soakCount / 10));
  let done = 0;
  let refused = 0;
  const started = performance.now();
  while (done < soakCount) {
    const batch = Math.min(step, soakCount - done);
    refused += await runMany(batch, maxConcurrent);
    done += batch;
    const current = await sample();
    samples.push(current);
    console.log(`  ${String(done).padStart(6)} done`, show(current));
  }
  const rate = soakCount / ((performance.now() - started) / 1000);
  await settle();
  const end = await sample();
  console.log(`soak: ${rate.toFixed(1)} executions/s, ${refused} retried after 429/503; idle again:`, show(end));
  const peakRss = Math.max(...samples.map((s) => s.rssMb));
  console.log(`RSS: baseline ${baseline.rssMb.toFixed(1)} MB, peak ${peakRss.toFixed(1)} MB, end ${end.rssMb.toFixed(1)} MB`);
  check(end.fds <= baseline.fds + FD_SLACK, `open descriptors grew from ${baseline.fds} to ${end.fds}`);
  // On docker the count is engine-wide (the server has no labels of its own to filter on), so other
  // servers' or tests' containers come and go in it: shown, not checked.
  if (backend !== "docker") check(end.sandboxes <= baseline.sandboxes, `sandboxes grew from ${baseline.sandboxes} to ${end.sandboxes}`);
  check(end.rssMb <= baseline.rssMb + RSS_CEILING_MB, `RSS grew from ${baseline.rssMb.toFixed(1)} to ${end.rssMb.toFixed(1)} MB`);
  // RSS is a sawtooth (V8 collects lazily): a leak shows as peaks that keep rising. A short soak
  // ends before RSS levels off; only a long one can tell a leak from warm-up.
  const half = Math.floor(samples.length / 2);
  const firstPeak = Math.max(...samples.slice(0, half).map((s) => s.rssMb));
  const secondPeak = Math.max(...samples.slice(half).map((s) => s.rssMb), end.rssMb);
  if (soakCount >= 1000) {
    check(
      secondPeak <= firstPeak + RSS_SECOND_HALF_LIMIT_MB,
      `RSS peaks still rising: ${firstPeak.toFixed(1)} MB in the first half, ${secondPeak.toFixed(1)} MB in the second`,
    );
  }
}

/** Runs `count` executions, `parallel` at a time, retrying refusals after Retry-After; returns how many were refused. */
async function runMany(count: number, parallel: number): Promise<number> {
  let next = 0;
  let refused = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      for (;;) {
        const answer = await execute(`print(${index})`, 10_000);
        if (answer.status === 429 || answer.status === 503) {
          check(answer.retryAfter !== null, `${answer.status} without Retry-After`);
          refused++;
          await sleep(100);
          continue;
        }
        check(answer.status === 200 && answer.stdout === `${index}\n`, `soak answer ${answer.status}: ${answer.text.slice(0, 200)}`);
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return refused;
}

async function execute(code: string, timeoutMs: number) {
  const response = await fetch(`${url}/v1/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code, timeout_ms: timeoutMs }),
  });
  const text = await response.text();
  let stdout: unknown;
  try {
    stdout = JSON.parse(text).stdout;
  } catch {
    stdout = undefined;
  }
  return { status: response.status, retryAfter: response.headers.get("retry-after"), text, stdout };
}

interface Sample {
  rssMb: number;
  fds: number;
  sandboxes: number;
  heapMb?: number;
}

async function sample(): Promise<Sample> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  // The heap, when the server exposes Node's default metrics.
  const metrics = await fetch(`${url}/metrics`)
    .then((response) => (response.ok ? response.text() : ""))
    .catch(() => "");
  const heap = /^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1];
  return { rssMb, fds, sandboxes: await sandboxes(), heapMb: heap ? Number(heap) / 1024 / 1024 : undefined };
}

/** Sandboxes of this server: bubblewrap children (local), or containers named by the server's executor labels (docker). */
async function sandboxes(): Promise<number> {
  if (backend === "docker") {
    const { default: Dockerode } = await import("dockerode");
    // Warm and running one-shot containers; another server on the same engine would be counted too.
    const containers = await new Dockerode().listContainers({ all: true, filters: { label: ["app=code-interpreter", "component=exec"] } });
    return containers.length;
  }
  let count = 0;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) count++;
  }
  return count;
}

/** Waits until finished sandboxes are gone and the warm pool has refilled. */
async function settle(): Promise<void> {
  let previous = -1;
  for (let i = 0; i < 60; i++) {
    const current = await sandboxes();
    if (current === previous) return;
    previous = current;
    await sleep(1000);
  }
}

function show(s: Sample): string {
  return `rss ${s.rssMb.toFixed(1)} MB, fds ${s.fds}, sandboxes ${s.sandboxes}${s.heapMb === undefined ? "" : `, heap ${s.heapMb.toFixed(1)} MB`}`;
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A loopback port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
