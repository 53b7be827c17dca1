// How many warm session sandboxes (sandbox, command runner and kernel) the
// platform makes per second at each concurrency, measured through the
// engine's own warm-session path: the numbers behind the session pool's
// learnt refill concurrency (issue 24). Usage:
//   node bench/src/session-create-rate.ts --backend local|docker [--count 16] [--levels 1,2,3,4,6,8]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "local" },
    count: { type: "string", default: "16" },
    levels: { type: "string", default: "1,2,3,4,6,8" },
    image: { type: "string", default: process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest" },
  },
});
const count = Number(args.count);
const levels = (args.levels as string).split(",").map(Number);

/** The engine's private warm-session path, reached on purpose: this measures exactly what a pool refill costs. */
interface WarmSessionPath {
  startWarmSession(): Promise<unknown>;
  discardWarmSession(warm: unknown): Promise<void>;
  close(): Promise<void>;
}

async function open(): Promise<WarmSessionPath> {
  const settings = { pool: false as const, sessionPool: false as const, warn: () => {} };
  if (args.backend === "docker") {
    const { createDockerBackend } = await import("@code-interpreter/backend-docker");
    return (await createDockerBackend({ ...settings, image: args.image as string })) as unknown as WarmSessionPath;
  }
  const { createLocalBackend } = await import("@code-interpreter/backend-local");
  return (await createLocalBackend(settings)) as unknown as WarmSessionPath;
}

const backend = await open();
const load = () => loadavg()[0]?.toFixed(1);
try {
  // Warm-up: the first sandbox pays for cold caches.
  await backend.discardWarmSession(await backend.startWarmSession());
  console.log("concurrency  per second  ms each (mean)  load");
  for (const level of levels) {
    const made: unknown[] = [];
    const durations: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: level }, async () => {
        while (next < count) {
          next++;
          const began = performance.now();
          made.push(await backend.startWarmSession());
          durations.push(performance.now() - began);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const mean = durations.reduce((sum, ms) => sum + ms, 0) / durations.length;
    console.log(`${String(level).padEnd(12)} ${(count / seconds).toFixed(2).padEnd(11)} ${mean.toFixed(0).padEnd(15)} ${load()}`);
    await Promise.all(made.map((warm) => backend.discardWarmSession(warm)));
  }
} finally {
  await backend.close();
}
