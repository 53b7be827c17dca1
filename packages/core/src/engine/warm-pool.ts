/** Requests within this window set the request rate the pool plans for. */
const RATE_WINDOW_MS = 10_000;
/** The longest close() waits for sandboxes still being created. */
const CLOSE_WAIT_MS = 10_000;
/** The time to make a sandbox the pool assumes until it has made one. */
const ASSUMED_CREATE_MS = 1000;
/** Creations timed at a refill concurrency before the pool judges it. */
const SAMPLES_PER_LEVEL = 2;
/** How long a concurrency found too high (creations slowed down) is not tried again. */
const RETRY_CONCURRENCY_MS = 60_000;

/**
 * How many sandboxes at their memory limit the warm pools may hold together
 * by default: a burst of 16 sessions (ComputeSDK's benchmark, and the
 * server's MAX_CONCURRENT_EXECUTIONS default) is then met by warm ones once
 * the session pool has seen it.
 */
export const WARM_POOL_SANDBOXES = 16;

/**
 * How long the engine's one-shot pool holds its refill back after handing out a warm sandbox (see refillHoldMs):
 * long enough for a short request's answer (a warm `print(1)` takes 0.05-0.2 s), short beside a sandbox's start.
 */
export const REFILL_HOLD_MS = 500;

/**
 * What several pools may keep warm together: their warm sandboxes and those
 * being made, beyond each pool's `min`, stay within `slots` (an operator's
 * memory budget divided by what one sandbox may use).
 */
export class WarmBudget {
  private readonly pools = new Set<{ readonly reserved: number }>();

  constructor(readonly slots: number) {}

  /** Counts a pool's warm and creating sandboxes against the budget. */
  join(pool: { readonly reserved: number }): void {
    this.pools.add(pool);
  }

  /** Sandboxes more the pools may make. */
  get room(): number {
    let reserved = 0;
    for (const pool of this.pools) reserved += pool.reserved;
    return this.slots - reserved;
  }
}

/**
 * How long the engine's session pool holds its refill back after a session
 * claimed a warm sandbox (unless another session comes, see holdEndsOn): its
 * first command (an `echo hi` takes 5-40 ms), and those of a burst of
 * sessions served warm, then run without sandboxes starting beside them.
 */
export const SESSION_REFILL_HOLD_MS = 200;

/**
 * Takes closer together than this after the one that started a hold are a
 * burst (they keep the hold: see holdEndsOn); later ones are a stream.
 */
const BURST_GAP_MS = 50;

/** Settings of a warm pool. */
export interface WarmPoolOptions<T> {
  /** Creates and starts one sandbox, ready for a request. */
  create: () => Promise<T>;
  /** Destroys a sandbox (used or not); must not throw for one already gone. */
  destroy: (item: T) => Promise<void>;
  /** Sandboxes kept warm even with no demand. @default 1 */
  min?: number;
  /** Most sandboxes kept warm. @default 4 */
  max?: number;
  /**
   * Demand is remembered this long: a peak not seen again for this long is
   * forgotten, and with no request at all the pool shrinks back to `min`. @default 60000
   */
  idleTimeoutMs?: number;
  /** Sandboxes in use, warm and being created may never exceed this. @default max + 16 */
  capacity?: number;
  /** A warm sandbox older than this is replaced by a fresh one. @default 600000 */
  maxAgeMs?: number;
  /**
   * Sandboxes created at once while refilling, to begin with: the pool then
   * learns the platform's capacity (see refillConcurrency). @default 2
   */
  refillConcurrency?: number;
  /** The most sandboxes the pool ever creates at once. @default 16 */
  maxRefillConcurrency?: number;
  /** Shared with other pools: their warm sandboxes together stay within it (beyond each pool's `min`). @default none */
  budget?: WarmBudget;
  /**
   * After a warm sandbox is handed out, the refill waits until the taker
   * releases it or this long has passed, whichever comes first: starting a
   * sandbox costs the server a process spawn (which blocks its event loop)
   * and the machine a CPU-heavy boot, which would otherwise compete with the
   * request just handed its sandbox. 0: refill at once. A request that
   * finds the pool empty ends the hold. @default 0
   */
  refillHoldMs?: number;
  /**
   * What ends the hold before refillHoldMs: the taker's `release` (a
   * one-shot sandbox is released with its answer), or the `next-take` (a
   * session is released once claimed, before its first command; a second
   * session 50 ms or more after it means demand is flowing, and the refill
   * must not wait). Sessions closer together than that are a burst: they keep
   * the hold, so their first commands do not share the CPU with sandboxes
   * starting (on 2 cores a burst of 16 served warm was 2.6x faster so).
   * @default "release"
   */
  holdEndsOn?: "release" | "next-take";
  /** Told when creating a sandbox failed (the pool retries after a pause). */
  onError?: (error: unknown) => void;
}

/** A caller of acquire() waiting for a sandbox being made (a method, so that the pool stays covariant in T). */
interface Waiter<T> {
  resolve(item: T | undefined): void;
}

/** Smoothed creation time at one refill concurrency. */
interface LevelTiming {
  ms: number;
  samples: number;
}

/**
 * Sandboxes created and started before they are needed, each used exactly
 * once and then destroyed. The pool refills in the background and sizes
 * itself to recent demand, between `min` and `max` (and within its budget):
 * at least as many as were in use at once lately, and as many as arrived
 * within the time it takes to make one (a burst of 16 teaches it 16). It
 * makes several at once, as many as make the platform faster: it tries one
 * more while the creations do not slow down, and one fewer when they do.
 */
export class WarmPool<T> {
  private readonly idle: { item: T; since: number }[] = [];
  private creating = 0;
  private inUse = 0;
  /** The most sandboxes in use at once, and when that was last seen. */
  private peakInUse = 0;
  private peakInUseAt = 0;
  /** The most requests that came within one creation time, and when that was last seen. */
  private peakArrivals = 0;
  private peakArrivalsAt = 0;
  private lastAcquire = 0;
  /** When recent requests came, for the request rate. */
  private readonly recentTakes: number[] = [];
  /** Smoothed time to create a sandbox, in ms. */
  private createMs = 0;
  /** When requests found no warm sandbox. */
  private readonly recentMisses: number[] = [];
  /** Callers of acquire() waiting for a sandbox being made, oldest first. */
  private readonly waiters: Waiter<T>[] = [];
  private concurrency: number;
  /** Creation times by the number of creations under way (see learnConcurrency). */
  private readonly levels = new Map<number, LevelTiming>();
  /** A concurrency that slowed creations down, not tried again before `until`. */
  private tooMany: { level: number; until: number } | undefined;
  private pausedUntil = 0;
  /** Creations under way, each settled once its sandbox is in the pool (or destroyed, after close). */
  private readonly creations = new Set<Promise<void>>();
  private closed = false;
  /** Set while the refill waits for a taker's release (see refillHoldMs). */
  private hold: NodeJS.Timeout | undefined;
  private holdSince = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly options: Required<Omit<WarmPoolOptions<T>, "onError" | "budget">> & Pick<WarmPoolOptions<T>, "onError" | "budget">;

  constructor(options: WarmPoolOptions<T>) {
    const max = options.max ?? 4;
    this.options = {
      min: 1,
      idleTimeoutMs: 60_000,
      maxAgeMs: 600_000,
      capacity: max + 16,
      refillConcurrency: 2,
      maxRefillConcurrency: 16,
      refillHoldMs: 0,
      holdEndsOn: "release",
      ...options,
      max,
    };
    this.concurrency = Math.max(1, Math.min(this.options.refillConcurrency, this.options.maxRefillConcurrency));
    this.options.budget?.join(this);
    this.timer = setInterval(() => this.maintain(), 1000);
    this.timer.unref();
    this.refill();
  }

  /**
   * True when requests lately found the pool empty, none warm since: refills
   * cannot keep up, so a backend should make its warm sandboxes cheaper (e.g.
   * preload less). A request that finds a warm sandbox ends it: the refills
   * caught up, and the next ones may cost what they did before.
   */
  get underPressure(): boolean {
    const since = Date.now() - RATE_WINDOW_MS;
    return this.recentMisses.filter((at) => at > since).length >= 2;
  }

  /** Sandboxes warm right now. */
  get size(): number {
    return this.idle.length;
  }

  /** Sandboxes warm or being made: what the pool holds of its budget. */
  get reserved(): number {
    return this.idle.length + this.creating;
  }

  /** How many sandboxes the pool makes at once now, as learnt. */
  get refillConcurrency(): number {
    return this.concurrency;
  }

  /** How many sandboxes the pool means to keep warm now. */
  get targetSize(): number {
    return this.target();
  }

  /**
   * A warm sandbox if there is one (the oldest), else undefined: the caller
   * then creates a fresh one. Either way the caller owns it and calls
   * `release()` when it is done with it, after destroying it.
   */
  take(): T | undefined {
    const now = Date.now();
    this.lastAcquire = now;
    this.recentTakes.push(now);
    if (this.recentTakes.length > 256) this.recentTakes.shift();
    this.inUse++;
    if (this.inUse >= this.peakInUse) {
      this.peakInUse = this.inUse;
      this.peakInUseAt = now;
    }
    this.noteArrivals(now);
    const entry = this.idle.shift();
    if (!entry) {
      this.recentMisses.push(now);
      if (this.recentMisses.length > 64) this.recentMisses.shift();
      // Demand outruns the pool: holding the refill back would only make the next request miss too.
      clearTimeout(this.hold);
      this.hold = undefined;
    } else {
      this.recentMisses.length = 0; // the refills caught up: no longer under pressure
      if (this.hold && this.options.holdEndsOn === "next-take" && now - this.holdSince >= BURST_GAP_MS) {
        // A stream of sessions, not a burst: demand is flowing, and the refill must not lag behind it.
        clearTimeout(this.hold);
        this.hold = undefined;
      } else if (this.options.refillHoldMs > 0 && !this.hold) {
        // One hold at a time, never extended: under steady demand the refill still starts within refillHoldMs.
        this.hold = setTimeout(() => this.endHold(), this.options.refillHoldMs);
        this.hold.unref();
        this.holdSince = now;
      }
    }
    this.refill();
    return entry?.item;
  }

  /**
   * Like `take()`, but when nothing is warm and a sandbox is being made that
   * no earlier caller waits for, waits for that one: it is further along
   * than one the caller would start now. Undefined when there is none (or
   * its creation fails): the caller then creates a fresh one. The caller
   * calls `release()` either way.
   */
  async acquire(): Promise<T | undefined> {
    const item = this.take();
    if (item !== undefined || this.closed || this.waiters.length >= this.creating) return item;
    return new Promise<T | undefined>((resolve) => this.waiters.push({ resolve }));
  }

  /** The caller is done with what `take()` gave it (or with the fresh sandbox it made instead). */
  release(): void {
    this.inUse = Math.max(0, this.inUse - 1);
    if (this.hold && this.options.holdEndsOn === "release") {
      clearTimeout(this.hold);
      // Once the caller's answer is on its way: release() is called just before the caller returns it.
      this.hold = setTimeout(() => this.endHold(), 0);
      this.hold.unref();
      return;
    }
    this.refill();
  }

  private endHold(): void {
    this.hold = undefined;
    this.refill();
  }

  /** Destroys every warm sandbox and stops refilling. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.hold);
    for (const waiter of this.waiters.splice(0)) waiter.resolve(undefined);
    const items = this.idle.splice(0).map((entry) => entry.item);
    await Promise.allSettled(items.map((item) => this.options.destroy(item)));
    // Sandboxes still being created are destroyed as they arrive (see refill): wait for those, but not
    // forever for a platform that does not answer.
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.creations]), giveUp]);
    clearTimeout(timer);
  }

  /** Remembers how many requests came within one creation time of this one: that many must be warm already. */
  private noteArrivals(now: number): void {
    const window = this.createMs || ASSUMED_CREATE_MS;
    let arrived = 0;
    for (let i = this.recentTakes.length - 1; i >= 0 && (this.recentTakes[i] ?? 0) > now - window; i--) arrived++;
    if (arrived >= this.peakArrivals) {
      this.peakArrivals = arrived;
      this.peakArrivalsAt = now;
    }
  }

  private target(): number {
    const { min, max, idleTimeoutMs } = this.options;
    const now = Date.now();
    if (now - this.lastAcquire > idleTimeoutMs) return min;
    const recent = this.recentTakes.filter((at) => at > now - RATE_WINDOW_MS).length;
    const arriving = Math.ceil((recent / RATE_WINDOW_MS) * this.createMs);
    return Math.min(max, Math.max(min, this.peakInUse, this.peakArrivals, arriving));
  }

  /** Forgets demand not seen for idleTimeoutMs, shrinks to the target, replaces old sandboxes. */
  private maintain(): void {
    if (this.closed) return;
    const now = Date.now();
    const old = now - this.options.maxAgeMs;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const entry = this.idle[i];
      if (entry && entry.since < old) {
        this.idle.splice(i, 1);
        this.options.destroy(entry.item).catch(() => {});
      }
    }
    if (now - this.peakArrivalsAt > this.options.idleTimeoutMs) this.peakArrivals = 0;
    if (now - this.peakInUseAt > this.options.idleTimeoutMs) this.peakInUse = this.inUse;
    const excess = this.idle.splice(this.target());
    for (const entry of excess) this.options.destroy(entry.item).catch(() => {});
    this.refill();
  }

  /**
   * Learns how many creations at once the platform serves fastest, from
   * creations made while the refill ran at its full concurrency: one more is
   * tried while the platform keeps up, and the pool steps back when that
   * slowed each creation by more than half of what a saturated platform
   * would (at n at once, n / (n - 0.5) times the time at n - 1).
   */
  private learnConcurrency(level: number, took: number): void {
    const timing = this.levels.get(level);
    this.levels.set(level, timing ? { ms: 0.5 * timing.ms + 0.5 * took, samples: timing.samples + 1 } : { ms: took, samples: 1 });
    const current = this.levels.get(this.concurrency);
    if (level !== this.concurrency || !current || current.samples < SAMPLES_PER_LEVEL) return;
    const below = this.levels.get(level - 1);
    const now = Date.now();
    if (below && below.samples >= SAMPLES_PER_LEVEL && current.ms / below.ms > level / (level - 0.5)) {
      this.concurrency = level - 1;
      this.tooMany = { level, until: now + RETRY_CONCURRENCY_MS };
      return;
    }
    const next = level + 1;
    const refused = this.tooMany && this.tooMany.until > now && next >= this.tooMany.level;
    if (next <= this.options.maxRefillConcurrency && !refused) {
      this.concurrency = next;
      // Judged afresh: the platform's state (and its other load) may have changed since it was last measured.
      this.levels.delete(next);
    }
  }

  private refill(): void {
    const { capacity, min } = this.options;
    while (
      !this.closed &&
      (this.hold === undefined || this.waiters.length > 0) &&
      Date.now() >= this.pausedUntil &&
      this.idle.length + this.creating < this.target() &&
      this.creating < this.concurrency &&
      this.idle.length + this.creating + this.inUse < capacity &&
      (this.idle.length + this.creating < min || (this.options.budget?.room ?? 1) > 0)
    ) {
      this.creating++;
      const started = Date.now();
      let level = this.creating;
      const creation = this.options
        .create()
        .then(
          (item) => {
            const took = Date.now() - started;
            this.createMs = this.createMs === 0 ? took : 0.7 * this.createMs + 0.3 * took;
            // Counted at the most creations under way during it: those started with it in one refill ran alongside.
            level = Math.max(level, this.creating);
            if (level >= this.concurrency) this.learnConcurrency(level, took);
            if (this.closed) return this.options.destroy(item);
            const waiter = this.waiters.shift();
            if (waiter) waiter.resolve(item);
            else this.idle.push({ item, since: Date.now() });
          },
          (error) => {
            // The engine may be overloaded or gone: back off instead of hammering it, with fewer at once.
            this.pausedUntil = Date.now() + 1000;
            this.concurrency = Math.max(1, Math.floor(this.concurrency / 2));
            this.options.onError?.(error);
          },
        )
        .catch(() => {})
        .finally(() => {
          this.creating--;
          this.creations.delete(creation);
          this.refill();
          // Callers waiting for more sandboxes than are being made make their own.
          while (this.waiters.length > this.creating) this.waiters.pop()?.resolve(undefined);
        });
      this.creations.add(creation);
    }
  }
}
