/** Latency figures of a set of samples, in milliseconds. */
export interface Latency {
  n: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export function latency(samples: readonly number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Times one call in milliseconds (fractional). */
export async function time(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** Runs `work` `count` times in a row, `pauseMs` apart, and returns the latencies. */
export async function sequential(count: number, work: () => Promise<unknown>, pauseMs = 0): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    if (pauseMs > 0 && i > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    samples.push(await time(work));
  }
  return samples;
}

/** Runs `work` `count` times in a row; each call returns the milliseconds it timed itself (so it can leave its clean-up out). */
export async function selfTimed(count: number, work: () => Promise<number>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await work());
  return samples;
}

/** Runs `work` from `concurrency` loops for `seconds` (or until `stop()` says so); counts completions and errors. */
export async function sustained(concurrency: number, seconds: number, work: () => Promise<unknown>, stop = () => false) {
  const deadline = performance.now() + seconds * 1000;
  const samples: number[] = [];
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline && !stop()) {
        try {
          samples.push(await time(work));
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { concurrency, perSecond: samples.length / elapsed, errors, latency: latency(samples) };
}
