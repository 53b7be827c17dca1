// Docker one-shot with and without pooled containers (DOCKER_ONESHOT_REUSE, issue 24), side by side in the
// same minutes: `docker run --rm` and the engine's create + start + remove rate at concurrency 8 as floors, then
// for each setting, alternating, a server's one-shot print(1) sequential (a pause between), back to back, and
// its throughput at concurrency 8. Usage:
//   node bench/src/oneshot-reuse.ts [--rounds N] [--count N] [--seconds N] [--image NAME]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { api } from "./api.ts";
import { cleanUp, cleanUpOnSignals } from "./cleanup.ts";
import { dockerRun, engineCycleRate } from "./floors.ts";
import { startServer } from "./server.ts";
import { latency, sequential, sustained } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "2" },
    count: { type: "string", default: "20" },
    seconds: { type: "string", default: "8" },
    image: { type: "string", default: process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest" },
  },
});
const rounds = Number(args.rounds);
const count = Number(args.count);
const seconds = Number(args.seconds);
const image = args.image as string;
const CONCURRENCY = 8;
const PAUSE_MS = 250;

cleanUpOnSignals();
const log = (message: string) => process.stderr.write(`${message}\n`);
const load = () =>
  loadavg()
    .map((value) => value.toFixed(1))
    .join(" ");

type Figures = Record<string, number[]>;
const figures: Record<string, Figures> = { off: {}, on: {}, floor: {} };
const add = (setting: string, name: string, values: number[]) => {
  const bucket = figures[setting] as Figures;
  bucket[name] = [...(bucket[name] ?? []), ...values];
};

async function measure(setting: "off" | "on"): Promise<void> {
  log(`server with DOCKER_ONESHOT_REUSE=${setting === "on" ? 1 : 0} (load ${load()})`);
  const server = await startServer("docker", { DOCKER_ONESHOT_REUSE: setting === "on" ? "1" : "0", PYTHON_EXECUTOR_DOCKER_IMAGE: image });
  try {
    const client = api(server.url);
    await sequential(5, () => client.execute("print(1)"), PAUSE_MS);
    add(setting, "sequential", await sequential(count, () => client.execute("print(1)"), PAUSE_MS));
    add(setting, "back-to-back", await sequential(count, () => client.execute("print(1)")));
    const throughput = await sustained(CONCURRENCY, seconds, () => client.execute("print(1)"));
    add(setting, "throughput", [throughput.perSecond]);
    add(setting, "throughput errors", [throughput.errors]);
  } finally {
    await server.stop();
  }
}

try {
  for (let round = 0; round < rounds; round++) {
    log(`round ${round + 1}: floors (load ${load()})`);
    add("floor", "docker run --rm", await sequential(Math.max(5, count / 4), dockerRun(image, "print(1)")));
    add("floor", "engine cycle", [(await engineCycleRate(image, CONCURRENCY, seconds)).perSecond]);
    // Alternating which goes first, so neither always gets the quieter minutes.
    for (const setting of round % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) await measure(setting);
  }
  const floor = figures.floor as Figures;
  const run = latency(floor["docker run --rm"] ?? []);
  const cycle = average(floor["engine cycle"] ?? []);
  const lines = [
    `load average at the end: ${load()}`,
    `docker run --rm print(1): p50 ${run.p50.toFixed(0)} ms; engine create+start+remove at c=${CONCURRENCY}: ${cycle.toFixed(1)}/s`,
  ];
  for (const setting of ["off", "on"] as const) {
    const measured = figures[setting] as Figures;
    const sequentialP50 = latency(measured.sequential ?? []).p50;
    const backToBack = latency(measured["back-to-back"] ?? []);
    const throughput = average(measured.throughput ?? []);
    lines.push(
      `reuse ${setting}: sequential p50 ${sequentialP50.toFixed(0)} ms (${(sequentialP50 / run.p50).toFixed(2)}× docker run), ` +
        `back-to-back p50 ${backToBack.p50.toFixed(0)} p90 ${backToBack.p90.toFixed(0)} ms (${(backToBack.p50 / run.p50).toFixed(2)}×), ` +
        `c=${CONCURRENCY} ${throughput.toFixed(1)}/s (${(throughput / cycle).toFixed(2)}× the engine cycle), errors ${(measured["throughput errors"] ?? []).reduce((a, b) => a + b, 0)}`,
    );
  }
  console.log(lines.join("\n"));
  console.log(JSON.stringify(figures));
} finally {
  await cleanUp();
}

function average(values: readonly number[]): number {
  return values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : Number.NaN;
}
