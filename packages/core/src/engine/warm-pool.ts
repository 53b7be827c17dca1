/** Requests within this window set the request rate the pool plans for. */
const RATE_WINDOW_MS = 10_000;
/** The longest close() waits for sandboxes still being created. */
const CLOSE_WAIT_MS = 10_000;

/**
 * How long the engine's one-shot pool holds its refill back after handing out a warm sandbox (see refillHoldMs):
 * long enough for a short request's answer (a warm `print(1)` takes 0.05-0.2 s), short beside a sandbox's start.
 */
export const REFILL_HOLD_MS = 500;

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
  /** With no request for this long, the pool shrinks back to `min`. @default 60000 */
  idleTimeoutMs?: number;
  /** Sandboxes in use, warm and being created may never exceed this. @default max + 16 */
  capacity?: number;
  /** A warm sandbox older than this is replaced by a fresh one. @default 600000 */
  maxAgeMs?: number;
  /** Sandboxes created at once while refilling. @default 2 */
  refillConcurrency?: number;
  /**
   * After a warm sandbox is handed out, the refill waits until the taker
   * releases it or this long has passed, whichever comes first: starting a
   * sandbox costs the server a process spawn (which blocks its event loop)
   * and the machine a CPU-heavy boot, which would otherwise compete with the
   * request just handed its sandbox. 0: refill at once. @default 0
   */
  refillHoldMs?: number;
  /** Told when creating a sandbox failed (the pool retries after a pause). */
  onError?: (error: unknown) => void;
}

/**
 * Sandboxes created and started before they are needed, each used exactly
 * once and then destroyed. The pool refills in the background and sizes
 * itself to recent demand, between `min` and `max`: at least as many as were
 * in use at once lately, and enough to cover the requests that arrive while
 * one is being made (request rate × time to make one).
 */
export class WarmPool<T> {
  private readonly idle: { item: T; since: number }[] = [];
  private creating = 0;
  private inUse = 0;
  private peakInUse = 0;
  private lastAcquire = 0;
  /** When recent requests came, for the request rate. */
  private readonly recentTakes: number[] = [];
  /** Smoothed time to create a sandbox, in ms. */
  private createMs = 0;
  /** When requests found no warm sandbox. */
  private readonly recentMisses: number[] = [];
  private pausedUntil = 0;
  /** Creations under way, each settled once its sandbox is in the pool (or destroyed, after close). */
  private readonly creations = new Set<Promise<void>>();
  private closed = false;
  /** Set while the refill waits for a taker's release (see refillHoldMs). */
  private hold: NodeJS.Timeout | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly options: Required<Omit<WarmPoolOptions<T>, "onError">> & Pick<WarmPoolOptions<T>, "onError">;

  constructor(options: WarmPoolOptions<T>) {
    const max = options.max ?? 4;
    this.options = {
      min: 1,
      idleTimeoutMs: 60_000,
      maxAgeMs: 600_000,
      capacity: max + 16,
      refillConcurrency: 2,
      refillHoldMs: 0,
      ...options,
      max,
    };
    this.timer = setInterval(() => this.maintain(), 1000);
    this.timer.unref();
    this.refill();
  }

  /**
   * True when requests lately found the pool empty: refills cannot keep up,
   * so a backend should make its warm sandboxes cheaper (e.g. preload less).
   */
  get underPressure(): boolean {
    const since = Date.now() - RATE_WINDOW_MS;
    return this.recentMisses.filter((at) => at > since).length >= 2;
  }

  /** Sandboxes warm right now. */
  get size(): number {
    return this.idle.length;
  }

  /**
   * A warm sandbox if there is one (the oldest), else undefined: the caller
   * then creates a fresh one. Either way the caller owns it and calls
   * `release()` when it is done with it, after destroying it.
   */
  take(): T | undefined {
    this.lastAcquire = Date.now();
    this.recentTakes.push(this.lastAcquire);
    if (this.recentTakes.length > 256) this.recentTakes.shift();
    this.inUse++;
    this.peakInUse = Math.max(this.peakInUse, this.inUse);
    const entry = this.idle.shift();
    if (!entry) {
      this.recentMisses.push(this.lastAcquire);
      if (this.recentMisses.length > 64) this.recentMisses.shift();
    } else if (this.options.refillHoldMs > 0 && !this.hold) {
      // One hold at a time, never extended: under steady demand the refill still starts within refillHoldMs.
      this.hold = setTimeout(() => this.endHold(), this.options.refillHoldMs);
      this.hold.unref();
    }
    this.refill();
    return entry?.item;
  }

  /** The caller is done with what `take()` gave it (or with the fresh sandbox it made instead). */
  release(): void {
    this.inUse = Math.max(0, this.inUse - 1);
    if (this.hold) {
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

  private target(): number {
    const { min, max, idleTimeoutMs } = this.options;
    const now = Date.now();
    if (now - this.lastAcquire > idleTimeoutMs) return min;
    const window = RATE_WINDOW_MS;
    const recent = this.recentTakes.filter((at) => at > now - window).length;
    const arriving = Math.ceil((recent / window) * this.createMs);
    return Math.min(max, Math.max(min, this.peakInUse, arriving));
  }

  /** Shrinks to the target after a quiet spell, lets the remembered peak decay, replaces old sandboxes. */
  private maintain(): void {
    if (this.closed) return;
    const old = Date.now() - this.options.maxAgeMs;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const entry = this.idle[i];
      if (entry && entry.since < old) {
        this.idle.splice(i, 1);
        this.options.destroy(entry.item).catch(() => {});
      }
    }
    if (Date.now() - this.lastAcquire > this.options.idleTimeoutMs) {
      this.peakInUse = this.inUse;
      const excess = this.idle.splice(this.target());
      for (const entry of excess) this.options.destroy(entry.item).catch(() => {});
    }
    this.refill();
  }

  private refill(): void {
    const { capacity, refillConcurrency } = this.options;
    while (
      !this.closed &&
      this.hold === undefined &&
      Date.now() >= this.pausedUntil &&
      this.idle.length + this.creating < this.target() &&
      this.creating < refillConcurrency &&
      this.idle.length + this.creating + this.inUse < capacity
    ) {
      this.creating++;
      const started = Date.now();
      const creation = this.options
        .create()
        .then(
          (item) => {
            const took = Date.now() - started;
            this.createMs = this.createMs === 0 ? took : 0.7 * this.createMs + 0.3 * took;
            if (this.closed) return this.options.destroy(item);
            this.idle.push({ item, since: Date.now() });
          },
          (error) => {
            // The engine may be overloaded or gone: back off instead of hammering it.
            this.pausedUntil = Date.now() + 1000;
            this.options.onError?.(error);
          },
        )
        .catch(() => {})
        .finally(() => {
          this.creating--;
          this.creations.delete(creation);
          this.refill();
        });
      this.creations.add(creation);
    }
  }
}
