// "Create to first result", measured as ComputeSDK's sandbox benchmark does:
// create a session, run `echo hi` in it, and time from the create request until
// the command's result has arrived. The session's delete comes after, untimed.
import type { api } from "./api.ts";
import { type Latency, latency } from "./stats.ts";

/** How many iterations of each mode, and how far apart staggered ones start. */
export interface FirstResultPlan {
  sequential: number;
  staggered: number;
  staggerMs: number;
  /** Sessions created at once in a burst. */
  burst: number;
  /** Bursts, one after another (each waits for the one before it, deletes included). */
  burstRounds: number;
}

export interface FirstResultFigures {
  latency: Latency;
  errors: number;
  /** The first error's message, to tell why without rerunning. */
  firstError?: string;
}

/** One iteration may take this long before it counts as an error. */
const ITERATION_TIMEOUT_MS = 60_000;

/** Creates a session, runs `echo hi`, checks its answer; resolves to the milliseconds until the answer arrived. */
async function once(client: ReturnType<typeof api>): Promise<number> {
  const started = performance.now();
  let id: string | undefined;
  try {
    id = await client.createSession();
    const result = await client.bash(id, "echo hi");
    if (result.stdout !== "hi\n") throw new Error(`echo hi answered ${JSON.stringify(result)}`);
    return performance.now() - started;
  } finally {
    if (id) await client.deleteSession(id).catch(() => {});
  }
}

/** {@link once}, failing past {@link ITERATION_TIMEOUT_MS} (the request is left to end on its own). */
function bounded(client: ReturnType<typeof api>): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    once(client),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within ${ITERATION_TIMEOUT_MS / 1000} s`)), ITERATION_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function collect(runs: Promise<number>[]): Promise<FirstResultFigures> {
  const settled = await Promise.allSettled(runs);
  const samples = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failures = settled.flatMap((s) => (s.status === "rejected" ? [(s.reason as Error).message] : []));
  return { latency: latency(samples), errors: failures.length, ...(failures[0] ? { firstError: failures[0] } : {}) };
}

/** One after another. */
export async function sequentialMode(client: ReturnType<typeof api>, count: number): Promise<FirstResultFigures> {
  const runs: Promise<number>[] = [];
  for (let i = 0; i < count; i++) {
    const run = bounded(client);
    runs.push(run);
    await run.catch(() => {});
  }
  return collect(runs);
}

/** Starts `staggerMs` apart, each without waiting for the ones before it. */
export async function staggeredMode(client: ReturnType<typeof api>, count: number, staggerMs: number): Promise<FirstResultFigures> {
  const runs: Promise<number>[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, staggerMs));
    const run = bounded(client);
    void run.catch(() => {}); // collected below
    runs.push(run);
  }
  return collect(runs);
}

/** `size` at once, `rounds` times. */
export async function burstMode(client: ReturnType<typeof api>, size: number, rounds: number): Promise<FirstResultFigures> {
  const runs: Promise<number>[] = [];
  for (let round = 0; round < rounds; round++) {
    const these = Array.from({ length: size }, () => bounded(client));
    runs.push(...these);
    await Promise.allSettled(these);
  }
  return collect(runs);
}
