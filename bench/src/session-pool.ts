// Sessions at the engine's pace (issue 24): create → first result (`echo hi`)
// back to back, spaced, and in bursts of 16, each burst reported on its own,
// with the load average before and after each mode. Usage:
//   node bench/src/session-pool.ts --backend local|docker [--count 30] [--pause-ms 300]
//     [--burst-rounds 2] [--burst-pause-ms 0] [--settle-ms 3000] [--modes back-to-back,spaced,burst]
// The server takes the usual variables from this process's environment
// (e.g. SESSION_POOL_MIN=16 for a pool sized for the burst).
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { api } from "./api.ts";
import { cleanUp, cleanUpOnSignals, onCleanup } from "./cleanup.ts";
import { burstMode, type FirstResultFigures, sequentialMode } from "./first-result.ts";
import { startServer } from "./server.ts";
import type { Latency } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "local" },
    count: { type: "string", default: "30" },
    "pause-ms": { type: "string", default: "300" },
    "burst-rounds": { type: "string", default: "2" },
    "burst-pause-ms": { type: "string", default: "0" },
    /** The pause after the warm-up, and after each mode: time for the pool to fill (e.g. SESSION_POOL_MIN=16). */
    "settle-ms": { type: "string", default: "3000" },
    modes: { type: "string", default: "back-to-back,spaced,burst" },
  },
});
const backend = args.backend as string;
if (!["docker", "local"].includes(backend)) throw new Error(`--backend must be docker or local, not ${backend}`);
const count = Number(args.count);
const pauseMs = Number(args["pause-ms"]);
const burstRounds = Number(args["burst-rounds"]);
const burstPauseMs = Number(args["burst-pause-ms"]);
const modes = (args.modes as string).split(",");
const settleMs = Number(args["settle-ms"]);

cleanUpOnSignals();
const load = () =>
  loadavg()
    .map((value) => value.toFixed(1))
    .join(" ");
const show = (v: Latency) => `p50 ${v.p50.toFixed(0)} p95 ${v.p95.toFixed(0)} max ${v.max.toFixed(0)} (n ${v.n})`;
const rows: string[] = [];
const figures: Record<string, unknown> = { backend, count, pauseMs, burstRounds, burstPauseMs };
const report = (name: string, result: FirstResultFigures, loadBefore: string) => {
  figures[name] = { ...result, load: [loadBefore, load()] };
  rows.push(`${name.padEnd(28)} ${show(result.latency)}, ${result.errors} errors; load ${loadBefore} → ${load()}`);
  for (const [round, each] of (result.rounds ?? []).entries())
    rows.push(`${`  round ${round + 1}`.padEnd(28)} ${show(each.latency)}, ${each.errors} errors`);
  if (result.firstError) rows.push(`  first error: ${result.firstError}`);
};

try {
  const server = await startServer(backend, {});
  onCleanup(server.stop);
  const client = api(server.url);
  // Warm-up: the server's first session, and the pool's first refill, out of the figures.
  await sequentialMode(client, 2, 1000);
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  for (const mode of modes) {
    const before = load();
    if (mode === "back-to-back") report("back to back", await sequentialMode(client, count), before);
    else if (mode === "spaced") report(`${pauseMs} ms apart`, await sequentialMode(client, count, pauseMs), before);
    else if (mode === "burst") report("burst of 16", await burstMode(client, 16, burstRounds, burstPauseMs), before);
    else throw new Error(`unknown mode ${mode}`);
    // The pool's refill after one mode is left out of the next.
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  }
  console.log(rows.join("\n"));
  console.log(JSON.stringify(figures));
} finally {
  await cleanUp();
}
