// Load and soak test of a code-interpreter server on loopback. Usage:
//   node bench/src/load.ts [--backend local|docker] [--quick] [--soak N] [--max-concurrent N]
// 1. Burst: three times MAX_CONCURRENT_EXECUTIONS executions at once. Every
//    answer must be 200, or 429/503 with Retry-After; never a 500.
// 2. Soak: N executions (thousands; --quick, which CI runs: 100) at MAX_CONCURRENT_EXECUTIONS
//    in parallel, sampling the server's RSS, open file descriptors and
//    sandboxes. Once idle, descriptors and sandboxes must be back where they
//    started, and RSS must have levelled off (its peaks not rising in the second half).
// 3. Hostile mix (--no-hostile skips it): workspaces of many files, large outputs and
//    output files, fork and memory bombs, clients that hang up mid-execution and
//    mid-upload, several at a time. Every answer must be one a client can act on
//    (never a 500), and after a forced garbage collection (the server runs with
//    --expose-gc; SIGUSR2 collects, see gc-on-signal.ts) what it holds (heap and
//    Buffers) and RSS must be back within HOSTILE_RSS_LIMIT_MB of where they were before
//    the mix (RSS thanks to the memory settings `serve` sets; with
//    CODE_INTERPRETER_MEMORY=default it stays 50-140 MB up). The heap and Buffers are checked; RSS
//    against its target is reported, not checked (it depends on the allocator and the machine). Peak and end RSS are printed.
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
    hostile: { type: "boolean", default: true },
  },
  allowNegative: true,
});
const backend = args.backend as string;
const maxConcurrent = Number(args["max-concurrent"]);
// CI's 100 only proves the soak's checks work (a docker execution churns a container: 300 took 3 minutes there).
const soakCount = Number(args.soak ?? (args.quick ? 100 : 3000));
/**
 * RSS grows while V8 collects lazily and the allocator keeps freed pages, then
 * levels off (bench/README.md): its peaks in the second half of the soak may
 * pass those of the first half by this much, and the whole soak at most RSS_CEILING_MB.
 */
const RSS_SECOND_HALF_LIMIT_MB = 32;
const RSS_CEILING_MB = 256;
/** Descriptors that may come and go (keep-alive sockets, log files). */
const FD_SLACK = 16;
/** The server is started as users start it, `code-interpreter serve` (which sets glibc's malloc settings and V8's semi-space size: apps/cli/src/commands/memory-settings.ts). */
const CLI = join(import.meta.dirname, "../../apps/cli/dist/cli.js");
/** After the hostile mix and a forced GC, what the server holds must be (and its RSS should be) back within this much of where it was before. */
const HOSTILE_RSS_LIMIT_MB = 50;
/** Rounds of the hostile mix (each runs every hostile kind once). */
const hostileRounds = args.quick ? 1 : 6;
/** Files of the many-file workspace: as many as a snapshot returns (10,000); fewer in --quick, which CI runs. */
const manyFiles = args.quick ? 2000 : 10_000;

const failures: string[] = [];
const check = (ok: boolean, message: string) => {
  if (!ok) failures.push(message);
};

const dir = await mkdtemp(join(tmpdir(), "ci-load-"));
await chmod(dir, 0o711); // the local sandbox uid reaches session workspaces below it
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const server: ChildProcess = spawn(
  process.execPath,
  ["--expose-gc", "--import", join(import.meta.dirname, "gc-on-signal.ts"), CLI, "serve"],
  {
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
  },
);
const pid = server.pid as number;
const exited = new Promise((resolve) => server.once("exit", resolve));

try {
  await waitFor("the server to answer /health", async () => (await fetch(`${url}/health`)).ok, 120_000);
  await burst();
  await soak();
  if (args.hostile) await hostile();
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

/** One of each hostile kind, as a client would send it; resolves with what came back. */
function hostileKinds(): Record<string, () => Promise<string>> {
  return {
    "many files": () =>
      outcome(
        execute(
          `import os\nos.mkdir('many')\nfor i in range(${manyFiles}):\n    open('many/%05d.txt' % i, 'w').write('x' * 100)\nprint('made')`,
          60_000,
        ),
      ),
    "large output": () => outcome(execute("import sys\nsys.stdout.write('y' * (20 * 1024 * 1024))", 30_000)),
    "large output file": () =>
      outcome(
        execute(
          "with open('big.bin', 'wb') as f:\n    for _ in range(64):\n        f.write(b'z' * (1024 * 1024))\nprint('written')",
          60_000,
        ),
      ),
    "fork bomb": () => outcome(execute("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", 3000)),
    "memory bomb": () => outcome(execute("blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))", 10_000)),
    "abandoned execution": async () => {
      const controller = new AbortController();
      const answer = execute(
        "import os\nfor i in range(5000):\n    open('f%d' % i, 'w').write('x' * 1000)\nimport time\ntime.sleep(30)",
        40_000,
        controller.signal,
      );
      await sleep(1500);
      controller.abort();
      return outcome(answer);
    },
    "abandoned upload": async () => {
      const controller = new AbortController();
      let chunks = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(stream) {
          await sleep(5);
          // Over once the client has hung up (fetch need not cancel its body), and bounded anyway.
          if (controller.signal.aborted || chunks++ >= 400) stream.close();
          else stream.enqueue(new Uint8Array(256 * 1024).fill(1));
        },
      });
      const answer = fetch(`${url}/v1/files`, {
        method: "POST",
        headers: { "content-type": "multipart/form-data; boundary=b" },
        body,
        signal: controller.signal,
        duplex: "half",
      } as RequestInit);
      await sleep(500);
      controller.abort();
      return answer.then((response) => String(response.status)).catch(() => "client hung up");
    },
  };
}

async function hostile(): Promise<void> {
  await settle();
  await collectGarbage();
  const before = await sample();
  const kinds = Object.entries(hostileKinds());
  console.log(`hostile mix: ${hostileRounds} rounds of ${kinds.map(([kind]) => kind).join(", ")}; before`, show(before));
  const samples = [before];
  const tally: Record<string, number> = {};
  for (let round = 0; round < hostileRounds; round++) {
    // A few at a time, like several hostile clients (MAX_CONCURRENT_EXECUTIONS still applies).
    for (let index = 0; index < kinds.length; index += 3) {
      const answers = await Promise.all(
        kinds
          .slice(index, index + 3)
          .map(async ([kind, run]) => [kind, await run().catch((error: Error) => `error: ${error.message}`)] as const),
      );
      for (const [kind, answer] of answers) {
        const key = `${kind}: ${answer}`;
        tally[key] = (tally[key] ?? 0) + 1;
        check(!/^5\d\d/.test(answer) || /^50[34]/.test(answer), `hostile ${kind} answered ${answer}`);
      }
      samples.push(await sample());
    }
    console.log(`  round ${round + 1}`, show(samples[samples.length - 1] as Sample));
  }
  console.log("hostile answers:", tally);
  await settle();
  const idle = await sample();
  await collectGarbage();
  const end = await sample();
  const peak = Math.max(...samples.map((s) => s.rssMb), idle.rssMb);
  console.log(
    `hostile RSS: before ${before.rssMb.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, idle ${idle.rssMb.toFixed(1)} MB, after GC ${end.rssMb.toFixed(1)} MB (${show(end)})`,
  );
  // What the server still holds (V8's heap and the Buffers Node accounts for) must be back: a leak
  // shows here. RSS must come back as well: glibc's malloc and V8's young generation keep pages
  // the mix used unless `serve`'s memory settings are on (bench/README.md, "Memory").
  const live = (s: Sample) => (s.heapMb ?? 0) + (s.externalMb ?? 0);
  check(
    live(end) <= live(before) + HOSTILE_RSS_LIMIT_MB,
    `after the hostile mix and a forced GC, the server holds ${live(end).toFixed(1)} MB (heap and Buffers), more than ${HOSTILE_RSS_LIMIT_MB} MB above the ${live(before).toFixed(1)} MB before it`,
  );
  // RSS depends on the allocator and the machine: a target reported (as the bench's are), not a check that fails the run.
  const grown = end.rssMb - before.rssMb;
  console.log(
    `RSS after the hostile mix and a forced GC: ${grown.toFixed(1)} MB above where it was (${before.rssMb.toFixed(1)} -> ${end.rssMb.toFixed(1)} MB); target within ${HOSTILE_RSS_LIMIT_MB} MB: ${grown <= HOSTILE_RSS_LIMIT_MB ? "met" : `missed by ${(grown - HOSTILE_RSS_LIMIT_MB).toFixed(1)} MB`}`,
  );
  check(end.fds <= before.fds + FD_SLACK, `open descriptors grew from ${before.fds} to ${end.fds} in the hostile mix`);
  if (backend !== "docker")
    check(end.sandboxes <= before.sandboxes, `sandboxes grew from ${before.sandboxes} to ${end.sandboxes} in the hostile mix`);
}

/** Status (and for 200, whether the code ran to an end) of an answer, or why there was none. */
async function outcome(answer: ReturnType<typeof execute>): Promise<string> {
  try {
    const { status, text } = await answer;
    if (status !== 200) return String(status);
    const body = JSON.parse(text) as { timed_out?: boolean; exit_code?: number | null };
    return body.timed_out ? "200 timed out" : `200 exit ${body.exit_code}`;
  } catch (error) {
    return (error as Error).name === "AbortError" ? "client hung up" : `error: ${(error as Error).message}`;
  }
}

/** Has the server run a full garbage collection (SIGUSR2, see gc-on-signal.ts), then waits for it to settle. */
async function collectGarbage(): Promise<void> {
  server.kill("SIGUSR2");
  await sleep(2000);
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

async function execute(code: string, timeoutMs: number, signal?: AbortSignal) {
  const response = await fetch(`${url}/v1/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code, timeout_ms: timeoutMs }),
    signal,
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
  /** Memory outside V8's heap that Node accounts for (Buffers, ArrayBuffers). */
  externalMb?: number;
}

async function sample(): Promise<Sample> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  // The heap, when the server exposes Node's default metrics.
  const metrics = await fetch(`${url}/metrics`)
    .then((response) => (response.ok ? response.text() : ""))
    .catch(() => "");
  const heap = /^(?:code_interpreter_)?nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1];
  const external = /^(?:code_interpreter_)?nodejs_external_memory_bytes (\S+)/m.exec(metrics)?.[1];
  return {
    rssMb,
    fds,
    sandboxes: await sandboxes(),
    heapMb: heap ? Number(heap) / 1024 / 1024 : undefined,
    externalMb: external ? Number(external) / 1024 / 1024 : undefined,
  };
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
  const heap = s.heapMb === undefined ? "" : `, heap ${s.heapMb.toFixed(1)} MB`;
  const external = s.externalMb === undefined ? "" : `, external ${s.externalMb.toFixed(1)} MB`;
  return `rss ${s.rssMb.toFixed(1)} MB, fds ${s.fds}, sandboxes ${s.sandboxes}${heap}${external}`;
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
