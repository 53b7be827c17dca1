/**
 * Every deadline of a sandbox, in one place. A request's `timeoutMs` is
 * validated by the server (MAX_EXEC_TIMEOUT_MS) and enforced by the runner
 * inside the sandbox, which kills the code's process tree when it runs out.
 * Everything here is a backstop behind that, derived from the same number:
 *
 * - the server stops waiting for the runner `BACKSTOP_MS` after the timeout
 *   (`exchange` stops the sandbox and answers "timed out");
 * - a stopped sandbox's connection gets `CLOSE_GRACE_MS` to report its end;
 * - a one-shot sandbox's own lifetime (its deadline label, the kubelet's
 *   `activeDeadlineSeconds`) covers its start, the timeout and the backstop,
 *   so a reaper removes it only once no server can still be using it;
 * - a warm sandbox lives `WARM_MAX_AGE_SECONDS` unused, plus the longest use;
 * - a warm session sandbox is replaced after `WARM_SESSION_MAX_AGE_SECONDS`
 *   unused, and its expiry label lets a reaper take it soon after; a crashed
 *   server's warm sessions end long before (their init watches the server's
 *   connection until the claim: `warmSessionInitArgv`).
 */

/** Time past the code's own timeout before the server gives up on the runner and stops the sandbox. */
export const BACKSTOP_MS = 10_000;

/** After stopping a sandbox, how long its connection may take to close before the server cuts it. */
export const CLOSE_GRACE_MS = 5_000;

/** A warm sandbox is replaced after this long unused. */
export const WARM_MAX_AGE_SECONDS = 600;

/** A warm session sandbox is replaced after this long unused. */
export const WARM_SESSION_MAX_AGE_SECONDS = 60;

/** The expiry of a warm session sandbox made now: its age limit, and time to start. */
export function warmSessionExpiry(now: number, startSeconds = START_ALLOWANCE_SECONDS): number {
  return now + WARM_SESSION_MAX_AGE_SECONDS + startSeconds;
}

/** Seconds a sandbox may take to start, on top of its use, before a reaper may take it. */
export const START_ALLOWANCE_SECONDS = 60;

/** How long the server waits for the runner's answer to a request with this timeout. */
export function backstopMs(timeoutMs: number | undefined): number {
  return (timeoutMs ?? 0) + BACKSTOP_MS;
}

/** Seconds from now a request needs its sandbox to live: its timeout and the backstop. */
export function useSeconds(timeoutMs: number | undefined): number {
  return Math.ceil(backstopMs(timeoutMs) / 1000);
}

/** Seconds a fresh one-shot sandbox may live: the time it may take to start, then its use. */
export function oneShotLifetimeSeconds(timeoutMs: number | undefined, startSeconds = START_ALLOWANCE_SECONDS): number {
  return useSeconds(timeoutMs) + startSeconds;
}

/**
 * Seconds a warm sandbox may live: its age limit unused, then the longest use
 * a request may make of it (MAX_EXEC_TIMEOUT_MS and the backstop), and time to start.
 * A crashed server's warm sandboxes stop long before it: their runner sees its connection drop.
 */
export function warmLifetimeSeconds(maxExecTimeoutMs: number, startSeconds = START_ALLOWANCE_SECONDS): number {
  return WARM_MAX_AGE_SECONDS + oneShotLifetimeSeconds(maxExecTimeoutMs, startSeconds);
}

/** A warm sandbox this near its expiry is not claimed: a reaper may be removing it meanwhile. */
export const CLAIM_MARGIN_SECONDS = 5;

/** Whether a warm sandbox expiring at `expiresAt` may still be claimed at `now` (unix seconds). */
export function claimable(expiresAt: number, now: number): boolean {
  return expiresAt > now + CLAIM_MARGIN_SECONDS;
}

/**
 * The expiry of a warm one-shot sandbox made now, until a request takes it:
 * its age limit and time to start (a reaper then takes one an earlier server
 * left); a claim moves it to the request's end.
 */
export function warmExpiry(now: number, startSeconds = START_ALLOWANCE_SECONDS): number {
  return now + WARM_MAX_AGE_SECONDS + startSeconds;
}

/** A session's expiry for a TTL asked for now, capped at the longest a session may live (SESSION_MAX_LIFETIME_SECONDS). */
export function sessionExpiry(now: number, ttlSeconds: number, maxLifetimeSeconds = Number.POSITIVE_INFINITY): number {
  return now + Math.min(ttlSeconds, maxLifetimeSeconds);
}

/**
 * What `promise` settles with, or `fallback` once `ms` have passed without it:
 * for a wait that must not hold an answer (or a start) up for good. The
 * timer never keeps the process alive.
 */
export async function withinMs<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
