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
  /** Bursts: each round's own figures, in order (a pool that learns makes the later ones faster). */
  rounds?: FirstResultFigures[];
  /** The first error's message, to tell why without rerunning. */
  firstError?: string;
  /** How many errors of each kind (their messages, session ids left out): a slow engine's timeouts apart from failures. */
  errorKinds?: Record<string, number>;
}

/** The timed part of an iteration (create and `echo hi`), and the delete after it, may each take this long before they count as an error. */
const ITERATION_TIMEOUT_MS = 60_000;

/** `work`, failing with `what` past {@link ITERATION_TIMEOUT_MS} (the request is left to end on its own). */
function within<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ITERATION_TIMEOUT_MS / 1000} s`)), ITERATION_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Creates a session, runs `echo hi`, checks its answer, deletes the session;
 * resolves to the milliseconds until the answer arrived (the delete is not
 * timed, but a delete that fails or does not answer makes the iteration an error).
 */
export async function once(client: ReturnType<typeof api>): Promise<number> {
  const started = performance.now();
  let id: string | undefined;
  let ms = Number.NaN;
  let failure: unknown;
  try {
    ms = await within(
      "no result",
      (async () => {
        id = await client.createSession();
        const result = await client.bash(id, "echo hi");
        if (result.stdout !== "hi\n") throw new Error(`echo hi answered ${JSON.stringify(result)}`);
        return performance.now() - started;
      })(),
    );
  } catch (error) {
    failure = error;
  }
  if (id) {
    try {
      await within("no answer to the session's delete", client.deleteSession(id));
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure) throw failure;
  return ms;
}

async function collect(runs: Promise<number>[]): Promise<FirstResultFigures> {
  const settled = await Promise.allSettled(runs);
  const samples = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failures = settled.flatMap((s) => (s.status === "rejected" ? [(s.reason as Error).message] : []));
  const errorKinds: Record<string, number> = {};
  for (const failure of failures) {
    const kind = failure.replace(/code-session-[0-9a-f-]+/g, "code-session-…");
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  }
  return {
    latency: latency(samples),
    errors: failures.length,
    ...(failures[0] ? { firstError: failures[0], errorKinds } : {}),
  };
}

/** One after another, `pauseMs` apart (0: back to back). */
export async function sequentialMode(client: ReturnType<typeof api>, count: number, pauseMs = 0): Promise<FirstResultFigures> {
  const runs: Promise<number>[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0 && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const run = once(client);
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
    const run = once(client);
    void run.catch(() => {}); // collected below
    runs.push(run);
  }
  return collect(runs);
}

/** `size` at once, `rounds` times, each round `pauseMs` after the one before it ended; figures of all and of each round. */
export async function burstMode(client: ReturnType<typeof api>, size: number, rounds: number, pauseMs = 0): Promise<FirstResultFigures> {
  const runs: Promise<number>[] = [];
  const each: FirstResultFigures[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round > 0 && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const these = Array.from({ length: size }, () => once(client));
    runs.push(...these);
    each.push(await collect(these));
  }
  return { ...(await collect(runs)), ...(rounds > 1 ? { rounds: each } : {}) };
}
