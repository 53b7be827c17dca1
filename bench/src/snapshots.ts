// Benchmark: pausing and resuming sessions (issue 23), beside E2B's published
// figures (about 4 s per GiB of sandbox memory to pause, about 1 s to resume).
// Usage:
//   node bench/src/snapshots.ts --backend local|docker|kubernetes [--runtime default|gvisor] [--quick] [--count N] [--array-mb M] [--time-limit S]
// It starts `code-interpreter serve` with the backend (kubernetes: against
// the API double) in the runtime, no warm pools, MAX_SNAPSHOT_MB and
// MEMORY_LIMIT_MB raised for the large kernel, and for two kernels, an idle
// one (`x = 41`) and one holding M MB of numpy arrays (default 500, written
// so their pages are resident), each sample on a new session:
//   pause: POST …/pause until its answer (the snapshot kept, the sandbox gone);
//   resume to first result: POST …/resume, then the first Python answer
//   (`x`, or `1+1` when the snapshot kept no memory), until it has arrived;
//   the snapshot's size and whether it kept memory, from the pause answer;
//   the kernel's resident memory before the pause (VmRSS), which is what
//   E2B's 4 s per GiB is per.
// It prints one table, the load average, and one JSON line.
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { cleanUp, cleanUpOnSignals, onCleanup } from "./cleanup.ts";
import { type KubernetesTarget, startKubernetesTarget } from "./kubernetes-target.ts";
import { startServer } from "./server.ts";
import { type Latency, latency } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "local" },
    runtime: { type: "string", default: "default" },
    quick: { type: "boolean", default: false },
    count: { type: "string" },
    "array-mb": { type: "string" },
    image: { type: "string", default: process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest" },
    "time-limit": { type: "string" },
  },
});
const backend = args.backend as string;
if (!["docker", "local", "kubernetes"].includes(backend)) throw new Error(`--backend must be docker, local or kubernetes, not ${backend}`);
const runtime = args.runtime as string;
if (!["default", "gvisor"].includes(runtime)) throw new Error(`--runtime must be default or gvisor, not ${runtime}`);
const count = Number(args.count ?? (args.quick ? 2 : 5));
const arrayMb = Number(args["array-mb"] ?? (args.quick ? 100 : 500));
const image = args.image as string;
const progress = (message: string) => process.stderr.write(`${message}\n`);

/** E2B's published figures: pause about 4 s per GiB of sandbox memory, resume about 1 s. */
const E2B_PAUSE_MS_PER_GIB = 4000;
const E2B_RESUME_MS = 1000;

cleanUpOnSignals();
const timeLimit = Number(args["time-limit"] ?? (args.quick ? 300 : 900));
const watchdog = setTimeout(() => {
  console.error(`the benchmark took longer than --time-limit ${timeLimit} s: stopping`);
  void cleanUp().finally(() => process.exit(1));
}, timeLimit * 1000);
onCleanup(async () => clearTimeout(watchdog));

/** What one kernel's samples gave. */
interface CaseFigures {
  name: string;
  pause: Latency;
  resumeToFirstResult: Latency;
  /** Snapshot size in bytes (the largest sample). */
  bytes: number;
  memory: boolean;
  /** The kernel's VmRSS before the pause, in MB (the largest sample). */
  kernelMb: number;
}

// biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
type Json = any;

function client(url: string) {
  const call = async (method: string, path: string, body?: unknown, expected = 200): Promise<Json> => {
    const response = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status !== expected) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : undefined;
  };
  const python = async (id: string, code: string): Promise<Json> => {
    const answer = await call("POST", `/v1/sessions/${id}/python`, { code, timeout_ms: 60_000 });
    if (answer.exit_code !== 0) throw new Error(`python failed: ${JSON.stringify(answer).slice(0, 500)}`);
    return answer;
  };
  return { call, python };
}

/** Pause, then resume to the first result, `count` times, each on a new session set up with `setUp`. */
async function measure(url: string, name: string, setUp: string): Promise<CaseFigures> {
  const { call, python } = client(url);
  const pauses: number[] = [];
  const resumes: number[] = [];
  let bytes = 0;
  let memory = false;
  let kernelMb = 0;
  for (let sample = 0; sample < count; sample++) {
    const { session_id: id } = await call("POST", "/v1/sessions", { ttl_seconds: 900 }, 201);
    try {
      await python(id, setUp);
      const rss = await python(id, "print(int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024)");
      kernelMb = Math.max(kernelMb, Number(rss.stdout));
      let started = performance.now();
      const paused = await call("POST", `/v1/sessions/${id}/pause`);
      pauses.push(performance.now() - started);
      bytes = Math.max(bytes, paused.snapshot.bytes);
      memory = paused.snapshot.memory;
      started = performance.now();
      await call("POST", `/v1/sessions/${id}/resume`);
      const first = await python(id, memory ? "x" : "1+1");
      resumes.push(performance.now() - started);
      if (first.stdout !== (memory ? "41\n" : "2\n")) throw new Error(`the resumed session answered ${JSON.stringify(first)}`);
    } finally {
      await call("DELETE", `/v1/sessions/${id}`, undefined, 204).catch((error: Error) => progress(`delete: ${error.message}`));
    }
    progress(
      `${name}: sample ${sample + 1}/${count}: pause ${pauses.at(-1)?.toFixed(0)} ms, resume to first result ${resumes.at(-1)?.toFixed(0)} ms`,
    );
  }
  return { name, pause: latency(pauses), resumeToFirstResult: latency(resumes), bytes, memory, kernelMb };
}

const loadBefore = loadavg();
let cases: CaseFigures[] = [];
try {
  let kubernetes: KubernetesTarget | undefined;
  if (backend === "kubernetes") {
    progress("starting the Kubernetes API double");
    kubernetes = await startKubernetesTarget(image, { gvisor: runtime === "gvisor" });
    onCleanup(kubernetes.stop);
  }
  progress(`starting the server (${backend}, runtime ${runtime})`);
  const server = await startServer(backend, {
    ...(kubernetes?.env ?? {}),
    SANDBOX_RUNTIME: runtime,
    SANDBOX_RUNTIMES: runtime,
    SANDBOX_POOL_MAX: "0",
    SESSION_POOL_MAX: "0",
    // Room for the large kernel and its snapshot (a memory image holds its arrays).
    MEMORY_LIMIT_MB: String(Math.max(512, arrayMb * 2 + 512)),
    MAX_SNAPSHOT_MB: String(Math.max(512, arrayMb * 2 + 512)),
    SNAPSHOT_KEY: "the-snapshot-benchmark-key-0123456789",
  });
  onCleanup(server.stop);
  cases = [
    await measure(server.url, "idle kernel", "x = 41"),
    await measure(
      server.url,
      `kernel holding ${arrayMb} MB of arrays`,
      `import numpy as np\narrays = [np.ones(${arrayMb} * 1024 * 1024 // 8 // 10) for _ in range(10)]\nx = 41`,
    ),
  ];
} finally {
  await cleanUp();
}
const loadAfter = loadavg();

const ms = (value: number) => `${value.toFixed(0)}`;
const size = (bytes: number) => (bytes < 1_048_576 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1_048_576).toFixed(1)} MB`);
console.log(`pause and resume on ${backend}, runtime ${runtime}, ${count} samples each (new session per sample)`);
console.log(
  "| kernel | kernel RSS | snapshot | memory kept | pause p50 / max ms | E2B pause (4 s/GiB of RSS) | resume → first result p50 / max ms | E2B resume |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const figure of cases) {
  const e2bPause = (figure.kernelMb / 1024) * E2B_PAUSE_MS_PER_GIB;
  console.log(
    `| ${figure.name} | ${figure.kernelMb} MB | ${size(figure.bytes)} | ${figure.memory ? "yes" : "no (workspace only)"} | ${ms(figure.pause.p50)} / ${ms(figure.pause.max)} | ${ms(e2bPause)} | ${ms(figure.resumeToFirstResult.p50)} / ${ms(figure.resumeToFirstResult.max)} | ${E2B_RESUME_MS} |`,
  );
}
const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(" ");
console.log(`\nload average (1, 5, 15 min): ${load(loadBefore)} before, ${load(loadAfter)} after`);
console.log(
  JSON.stringify({
    backend,
    runtime,
    count,
    array_mb: arrayMb,
    cases: cases.map((figure) => ({
      name: figure.name,
      kernel_rss_mb: figure.kernelMb,
      snapshot_bytes: figure.bytes,
      memory: figure.memory,
      pause_ms: figure.pause,
      resume_to_first_result_ms: figure.resumeToFirstResult,
      e2b_pause_ms: (figure.kernelMb / 1024) * E2B_PAUSE_MS_PER_GIB,
      e2b_resume_ms: E2B_RESUME_MS,
    })),
    load: { before: loadBefore, after: loadAfter },
  }),
);
