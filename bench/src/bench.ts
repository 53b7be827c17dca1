// Benchmark: latency and throughput of a code-interpreter server on loopback,
// next to the raw floors measured in the same run. Usage:
//   node bench/src/bench.ts --backend docker|local|kubernetes [--quick] [--seconds N] [--count N] [--pause-ms N] [--time-limit S]
//     [--first-result N] [--stagger-ms N] [--burst-rounds N] [--only sessions|staggered-burst]
// "Sequential" requests come one after another with a pause (an agent's think
// time, default 250 ms); "back-to-back" ones with none, which measures how fast
// the warm pool refills rather than how fast a request is served.
// "Create to first result" follows ComputeSDK's sandbox benchmark: create a
// session, run `echo hi`, time until its result arrives (sequential, staggered
// and bursts of 16), next to the raw floor of the same on a fresh sandbox.
// With kubernetes, the server and the floors talk to the Kubernetes API double
// (pods as Docker containers on this machine): no cluster can run here.
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { api } from "./api.ts";
import { measureFloors, PANDAS } from "./backend-floors.ts";
import { cleanUp, cleanUpOnSignals, onCleanup } from "./cleanup.ts";
import { burstMode, type FirstResultFigures, type FirstResultPlan, sequentialMode, staggeredMode } from "./first-result.ts";
import { type KubernetesTarget, startKubernetesTarget } from "./kubernetes-target.ts";
import { rssMb, startServer } from "./server.ts";
import { type Latency, latency, sequential, sustained, time } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "local" },
    quick: { type: "boolean", default: false },
    seconds: { type: "string" },
    count: { type: "string" },
    image: { type: "string", default: process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest" },
    "pause-ms": { type: "string", default: "250" },
    "time-limit": { type: "string" },
    "first-result": { type: "string" },
    "stagger-ms": { type: "string", default: "200" },
    "burst-rounds": { type: "string" },
    only: { type: "string" },
  },
});
const backend = args.backend as string;
if (!["docker", "local", "kubernetes"].includes(backend)) throw new Error(`--backend must be docker, local or kubernetes, not ${backend}`);
/**
 * `--only sessions`: session commands back to back only (bash `true`, Python `1+1`); `--only staggered-burst`: create
 * to first result, staggered (`--first-result` iterations) and in bursts (`--burst-rounds`) only. Neither measures floors or any other phase.
 */
const only = args.only;
if (only !== undefined && only !== "sessions" && only !== "staggered-burst")
  throw new Error(`--only must be sessions or staggered-burst, not ${only}`);
const count = Number(args.count ?? (args.quick ? 5 : 40));
const seconds = Number(args.seconds ?? (args.quick ? 2 : 10));
const image = args.image as string;
const pauseMs = Number(args["pause-ms"]);
// Create to first result: ComputeSDK ran 100 iterations; --quick keeps CI short.
const firstResultCount = Number(args["first-result"] ?? (args.quick ? 10 : 100));
const plan: FirstResultPlan = {
  sequential: firstResultCount,
  staggered: firstResultCount,
  staggerMs: Number(args["stagger-ms"]),
  burst: 16,
  burstRounds: Number(args["burst-rounds"] ?? (args.quick ? 1 : 3)),
};
for (const [name, value] of Object.entries(plan))
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number ≥ 0, not ${value}`);
/** Samples of the create-to-first-result floor (a fresh container or pod each). */
const firstResultFloorCount = Math.max(1, Math.min(firstResultCount, args.quick ? 5 : 20));
const NOTE =
  backend === "kubernetes"
    ? "kubernetes: against the Kubernetes API double (packages/kubernetes-double) on this one machine, pods as Docker containers — not a cluster"
    : undefined;

cleanUpOnSignals();
// A backstop, so a stuck server or engine cannot hold the run (or CI) forever.
const timeLimit = Number(args["time-limit"] ?? (args.quick ? 300 : 900));
const watchdog = setTimeout(() => {
  console.error(`the benchmark took longer than --time-limit ${timeLimit} s: stopping`);
  setTimeout(() => process.exit(1), 60_000).unref();
  void cleanUp().finally(() => process.exit(1));
}, timeLimit * 1000);
onCleanup(async () => clearTimeout(watchdog));
const began = performance.now();
/** Progress on stderr (stdout carries only the table and the JSON line). */
const phase = (name: string) => console.error(`[${((performance.now() - began) / 1000).toFixed(1)} s] ${name}`);
const figures: Record<string, unknown> = { backend, count, seconds, ...(NOTE ? { note: NOTE } : {}) };
const rows: [string, string, string, string][] = [];
/** The issue's targets for this backend, printed after the table: reported, never failing the run. */
const targets: { name: string; value: string; target: string; met: boolean; by?: string }[] = [];
const tail = (v: Latency) => `p50 ${v.p50.toFixed(0)} p95 ${v.p95.toFixed(0)} p99 ${v.p99.toFixed(0)} max ${v.max.toFixed(0)}`;
const row = (name: string, value: Latency | number, floor?: Latency | number, target?: string) => {
  const p50 = (v: Latency | number) => (typeof v === "number" ? v : v.p50);
  const show = (v: Latency | number) =>
    typeof v === "number"
      ? v.toFixed(1)
      : `p50 ${v.p50.toFixed(0)} p90 ${v.p90.toFixed(0)} p99 ${v.p99.toFixed(0)} max ${v.max.toFixed(0)}`;
  const ratio = floor === undefined ? undefined : p50(value) / p50(floor);
  figures[name] = { value, floor, ratio };
  rows.push([
    name,
    show(value),
    floor === undefined ? "" : show(floor),
    ratio === undefined ? "" : `${ratio.toFixed(2)}×${target ? ` (target ${target})` : ""}`,
  ]);
};

/** `--only sessions`: one session's bash `true` and Python `1+1`, each `count` times back to back, after a few of warm-up. */
async function sessionCommands(client: ReturnType<typeof api>) {
  phase("sessions");
  const session = await client.createSession();
  try {
    await sequential(3, () => client.bash(session, "true"));
    await sequential(3, () => client.python(session, "1+1"));
    row("session bash true", latency(await sequential(count, () => client.bash(session, "true"))));
    row("session python 1+1", latency(await sequential(count, () => client.python(session, "1+1"))));
  } finally {
    await client.deleteSession(session);
  }
  figures.load_average = loadavg();
  rows.push([
    "load average (1, 5, 15 min)",
    loadavg()
      .map((value) => value.toFixed(2))
      .join(" "),
    "",
    "",
  ]);
}

/** `--only staggered-burst`: the staggered and burst modes of create to first result, each with its errors by kind and the load average after it. */
async function staggeredAndBurst(client: ReturnType<typeof api>) {
  const modes: [string, number, () => Promise<FirstResultFigures>][] = [
    [`staggered ${plan.staggerMs} ms`, plan.staggered, () => staggeredMode(client, plan.staggered, plan.staggerMs)],
    [`burst of ${plan.burst}`, plan.burstRounds, () => burstMode(client, plan.burst, plan.burstRounds)],
  ];
  for (const [mode, iterations, measure] of modes) {
    if (iterations === 0) continue;
    phase(`create to first result: ${mode}`);
    const result = await measure();
    const load = loadavg();
    figures[`create→first result, ${mode}`] = { ...result, load_average: load };
    rows.push([
      `create→first result, ${mode}`,
      `${tail(result.latency)}, ${result.errors} errors, load ${load.map((value) => value.toFixed(1)).join(" ")}`,
      "",
      "",
    ]);
    for (const [kind, times] of Object.entries(result.errorKinds ?? {}))
      console.error(`create to first result, ${mode}: ${times}× ${kind}`);
  }
}

try {
  let kubernetes: KubernetesTarget | undefined;
  if (backend === "kubernetes") {
    phase("starting the Kubernetes API double");
    kubernetes = await startKubernetesTarget(image);
    onCleanup(kubernetes.stop);
  }
  // Kubernetes floors come first, on a quiet machine: once the server runs, its warm pool
  // refills (and preloads, a CPU-second a pod) in the background, which would slow them.
  if (kubernetes) phase("floors");
  const early = only
    ? undefined
    : kubernetes
      ? await measureFloors(backend, { image, count, seconds, firstResultCount: firstResultFloorCount, kubernetes })
      : undefined;
  phase(`starting the server (${backend})`);
  const server = await startServer(backend, kubernetes?.env ?? {});
  onCleanup(server.stop);
  const client = api(server.url);
  const memory: number[] = [];
  const sampler = setInterval(async () => memory.push(await rssMb(server.pid)), 1000);
  onCleanup(async () => clearInterval(sampler));

  phase("warming up");
  const hasPandas = await client.execute(PANDAS).then(
    () => true,
    () => false,
  );
  await sequential(3, () => client.execute("print(1)"));
  const rssStart = await rssMb(server.pid);

  // Floors, measured now on this machine.
  if (only === "sessions") {
    await sessionCommands(client);
  } else if (only === "staggered-burst") {
    await staggeredAndBurst(client);
  } else {
    if (!early) phase("floors");
    const floors = early ?? (await measureFloors(backend, { image, count, seconds, firstResultCount: firstResultFloorCount }));

    phase("one-shot");
    row(
      "one-shot print(1), sequential",
      latency(await sequential(count, () => client.execute("print(1)"), pauseMs)),
      floors.print,
      floors.targets.print,
    );
    row("one-shot print(1), back-to-back", latency(await sequential(count, () => client.execute("print(1)"))), floors.print);
    if (hasPandas) {
      const pandas = latency(await sequential(Math.min(count, 20), () => client.execute(PANDAS), pauseMs));
      row("one-shot import pandas + use", pandas, floors.pandas, floors.targets.pandas);
    }
    row("stream: first output byte", latency(await sequential(Math.min(count, 20), () => client.firstByte("print(1)"), pauseMs)));

    phase("sessions");
    const creates: number[] = [];
    const deletes: number[] = [];
    for (let i = 0; i < Math.min(count, 10); i++) {
      let id = "";
      creates.push(await time(async () => (id = await client.createSession())));
      deletes.push(await time(() => client.deleteSession(id)));
    }
    row("session create", latency(creates));
    row("session delete", latency(deletes));
    const session = await client.createSession();
    try {
      const bashTrue = latency(await sequential(count, () => client.bash(session, "true")));
      row("session bash true", bashTrue, floors.execBash, floors.targets.bash);
      if (backend === "docker" && floors.execBash) {
        const ratio = bashTrue.p50 / floors.execBash.p50;
        targets.push({
          name: "docker session bash true p50 / raw docker exec bash -c true p50",
          value: `${ratio.toFixed(2)}× (${bashTrue.p50.toFixed(0)} / ${floors.execBash.p50.toFixed(0)} ms)`,
          target: "≤ 0.2×",
          met: ratio <= 0.2,
          by: `${(ratio / 0.2).toFixed(1)}× over`,
        });
      }
      row(
        "session python 1+1",
        latency(await sequential(count, () => client.python(session, "1+1"))),
        floors.execPython,
        floors.targets.python,
      );
      if (hasPandas) row("session python pandas", latency(await sequential(Math.min(count, 20), () => client.python(session, PANDAS))));
    } finally {
      await client.deleteSession(session);
    }

    phase(
      `create to first result: ${plan.sequential} sequential, ${plan.staggered} staggered ${plan.staggerMs} ms apart, ${plan.burstRounds} burst(s) of ${plan.burst}`,
    );
    const modes: [string, number, () => Promise<FirstResultFigures>][] = [
      ["sequential", plan.sequential, () => sequentialMode(client, plan.sequential)],
      [`staggered ${plan.staggerMs} ms`, plan.staggered, () => staggeredMode(client, plan.staggered, plan.staggerMs)],
      [`burst of ${plan.burst}`, plan.burstRounds, () => burstMode(client, plan.burst, plan.burstRounds)],
    ];
    const firstResults: Record<string, FirstResultFigures> = {};
    for (const [mode, iterations, measure] of modes) {
      if (iterations === 0) continue; // --first-result 0 or --burst-rounds 0 leaves it out
      if (mode !== "sequential") phase(`create to first result: ${mode}`);
      const result = await measure();
      firstResults[mode] = result;
      const name = `create→first result, ${mode}`;
      const ratio = result.latency.p50 / floors.firstResult.p50;
      figures[name] = { ...result, floor: floors.firstResult, ratio };
      rows.push([
        name,
        `${tail(result.latency)}, ${result.errors} errors`,
        mode === "sequential" ? `${tail(floors.firstResult)} ${floors.firstResultName}` : "",
        `${ratio.toFixed(2)}×`,
      ]);
      for (const [round, figures] of (result.rounds ?? []).entries())
        rows.push([`  round ${round + 1}`, `${tail(figures.latency)}, ${figures.errors} errors`, "", ""]);
      if (result.firstError) console.error(`create to first result, ${mode}: first error: ${result.firstError}`);
      for (const [kind, times] of Object.entries(result.errorKinds ?? {}))
        console.error(`create to first result, ${mode}: ${times}× ${kind}`);
    }
    figures.floor_first_result = { name: floors.firstResultName, latency: floors.firstResult };
    const sequentialFirst = firstResults.sequential?.latency;
    const burstErrors = firstResults[`burst of ${plan.burst}`]?.errors;
    const ms = (value: number, limit: number) => ({
      value: `${value.toFixed(0)} ms`,
      target: `≤ ${limit} ms`,
      met: value <= limit,
      by: `${(value - limit).toFixed(0)} ms over`,
    });
    if (sequentialFirst && backend === "docker") {
      targets.push({ name: "docker create→first result, sequential median", ...ms(sequentialFirst.p50, 50) });
      targets.push({ name: "docker create→first result, sequential P95", ...ms(sequentialFirst.p95, 150) });
      if (burstErrors !== undefined)
        targets.push({
          name: `docker create→first result, burst of ${plan.burst}: errors`,
          value: String(burstErrors),
          target: "0",
          met: burstErrors === 0,
          by: `${burstErrors} errors`,
        });
    }
    if (sequentialFirst && backend === "local")
      targets.push({ name: "local create→first result, sequential median", ...ms(sequentialFirst.p50, 15) });
    if (sequentialFirst && backend === "kubernetes") {
      const ratio = sequentialFirst.p50 / floors.firstResult.p50;
      targets.push({
        name: `kubernetes create→first result median / ${floors.firstResultName} median`,
        value: `${ratio.toFixed(2)}× (${sequentialFirst.p50.toFixed(0)} / ${floors.firstResult.p50.toFixed(0)} ms)`,
        target: "≤ 0.2×",
        met: ratio <= 0.2,
        by: `${(ratio / 0.2).toFixed(1)}× over`,
      });
    }

    if (floors.podCycle) {
      const { start, exec, remove } = floors.podCycle;
      figures.floor_pod_cycle_phases = floors.podCycle;
      rows.push([
        "floor pod cycle, p50 by part",
        "",
        `create→Running ${start.p50.toFixed(0)}, exec ${exec.p50.toFixed(0)}, delete ${remove.p50.toFixed(0)}`,
        "",
      ]);
    }
    if (floors.cycleRate) phase(`floor: ${floors.cycleName} rate at concurrency 16`);
    const cycleRate = await floors.cycleRate?.();
    figures.floor_cycle_rate = cycleRate;
    for (const concurrency of [1, 4, 16]) {
      phase(`throughput at concurrency ${concurrency}`);
      const result = await sustained(concurrency, seconds, () => client.execute("print(1)"));
      figures[`throughput c${concurrency}`] = result;
      const compare = concurrency === 16 && cycleRate;
      rows.push([
        `throughput c=${concurrency} (per s)`,
        `${result.perSecond.toFixed(1)}/s, p50 ${result.latency.p50.toFixed(0)} ms, ${result.errors} errors`,
        compare ? `${cycleRate.perSecond.toFixed(1)}/s ${floors.cycleName}` : "",
        compare ? `${(result.perSecond / cycleRate.perSecond).toFixed(2)}× (target ${floors.targets.rate})` : "",
      ]);
    }
  }
  const rssEnd = await rssMb(server.pid);
  figures.server_rss_mb = { start: rssStart, end: rssEnd, max: Math.max(...memory) };
  rows.push(["server RSS (MB)", `start ${rssStart.toFixed(0)} end ${rssEnd.toFixed(0)} max ${Math.max(...memory).toFixed(0)}`, "", ""]);
} finally {
  phase("cleaning up");
  await cleanUp();
  phase("done");
}

const widths = [0, 1, 2, 3].map((i) =>
  Math.max(...[["metric", "server (ms)", "floor (ms)", "ratio"], ...rows].map((r) => r[i]?.length ?? 0)),
);
if (NOTE) console.log(NOTE);
for (const r of [["metric", "server (ms)", "floor (ms)", "ratio"], ...rows])
  console.log(r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  "));
if (targets.length > 0) {
  console.log("");
  console.log("issue 17 targets (reported, not asserted)");
  const width = Math.max(...targets.map((t) => t.name.length));
  const valueWidth = Math.max(...targets.map((t) => t.value.length));
  for (const t of targets)
    console.log(
      `${t.name.padEnd(width)}  ${t.value.padEnd(valueWidth)}  target ${t.target.padEnd(7)}  ${t.met ? "met" : `missed (${t.by})`}`,
    );
}
figures.targets = targets;
console.log(JSON.stringify(figures));
