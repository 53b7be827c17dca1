import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WarmBudget, WarmPool, type WarmPoolOptions } from "./warm-pool.js";

// The pool's clock and timers are vitest's fake ones: every test says how much time passes, none depends on this machine's speed.
const pass = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/** A platform whose creations take `createMs` each (or what `duration` says for the n-th one under way at its start). */
function platform(options: { createMs?: number; duration?: (underWay: number) => number; fail?: boolean } = {}) {
  let next = 0;
  let underWay = 0;
  const destroyed: number[] = [];
  return {
    destroyed,
    created: () => next,
    create: async () => {
      underWay++;
      const ms = options.duration ? options.duration(underWay) : (options.createMs ?? 0);
      try {
        if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
        if (options.fail) throw new Error("the platform is down");
        return next++;
      } finally {
        underWay--;
      }
    },
    destroy: async (item: number) => {
      destroyed.push(item);
    },
  };
}

describe("WarmPool", () => {
  const pools: WarmPool<number>[] = [];
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    const closed = Promise.all(pools.splice(0).map((pool) => pool.close()));
    await pass(20_000);
    await closed;
    vi.useRealTimers();
  });

  const makePool = (options: Omit<WarmPoolOptions<number>, "create" | "destroy">, from = platform()) => {
    const pool = new WarmPool({ create: from.create, destroy: from.destroy, ...options });
    pools.push(pool);
    return { pool, ...from };
  };
  /** `n` requests at once, each done at once. */
  const burst = (pool: WarmPool<number>, n: number) => {
    const items = Array.from({ length: n }, () => pool.take());
    for (let i = 0; i < n; i++) pool.release();
    return items;
  };

  it("keeps min sandboxes warm and hands each out exactly once", async () => {
    const { pool } = makePool({ min: 2, max: 4 });
    await pass(10);
    expect(pool.size).toBe(2);
    const first = pool.take();
    const second = pool.take();
    expect(first).not.toBe(second);
    expect([first, second]).toEqual([0, 1]);
    pool.release();
    pool.release();
  });

  it("answers undefined when nothing is warm, so the caller makes a fresh one", async () => {
    const { pool } = makePool({ min: 0, max: 2 });
    expect(pool.take()).toBeUndefined();
    pool.release();
  });

  it("says it is under pressure when requests keep finding it empty", async () => {
    const { pool } = makePool({ min: 0, max: 2 });
    expect(pool.underPressure).toBe(false);
    pool.take();
    pool.take();
    expect(pool.underPressure).toBe(true);
  });

  it("is no longer under pressure once a request finds a warm sandbox: its refills caught up", async () => {
    const { pool } = makePool({ min: 0, max: 2 });
    pool.take();
    pool.take();
    expect(pool.underPressure).toBe(true);
    pool.release();
    pool.release();
    await pass(10);
    expect(pool.take()).toBeDefined();
    expect(pool.underPressure).toBe(false);
    pool.release();
  });

  it("grows to the demand it saw, within max", async () => {
    const { pool } = makePool({ min: 1, max: 3 });
    await pass(10);
    for (let i = 0; i < 5; i++) pool.take();
    await pass(10);
    expect(pool.size).toBe(3);
    for (let i = 0; i < 5; i++) pool.release();
  });

  it("learns a burst: the next one of the same size finds every sandbox warm", async () => {
    const { pool } = makePool({ min: 1, max: 16 }, platform({ createMs: 200 }));
    await pass(200);
    // Each request of the burst is over at once, so no more than one is ever in use: the pool learns from the arrivals.
    expect(burst(pool, 16).filter((item) => item !== undefined)).toHaveLength(1);
    expect(pool.targetSize).toBe(16);
    await pass(5000);
    expect(pool.size).toBe(16);
    expect(burst(pool, 16).filter((item) => item !== undefined)).toHaveLength(16);
  });

  it("keeps enough warm to cover the requests that arrive while one is being made", async () => {
    const { pool } = makePool({ min: 1, max: 8 }, platform({ createMs: 1000 }));
    await pass(1000);
    // One request every 250 ms, each done before the next: four arrive while a sandbox is made.
    for (let i = 0; i < 8; i++) {
      pool.take();
      pool.release();
      await pass(250);
    }
    expect(pool.targetSize).toBe(4);
  });

  it("forgets a burst not seen again for idleTimeoutMs, and shrinks back", async () => {
    const { pool } = makePool({ min: 1, max: 16, idleTimeoutMs: 10_000 }, platform({ createMs: 100 }));
    await pass(100);
    burst(pool, 12);
    await pass(3000);
    expect(pool.size).toBe(12);
    // One request every 2 s from now on: still demand, but no burst.
    for (let i = 0; i < 10; i++) {
      pool.take();
      pool.release();
      await pass(2000);
    }
    expect(pool.targetSize).toBe(1);
    expect(pool.size).toBe(1);
  });

  it("keeps the pools that share a budget within it, beyond each one's min", async () => {
    const budget = new WarmBudget(5);
    const sessions = makePool({ min: 1, max: 16, budget }, platform({ createMs: 100 }));
    const oneShot = makePool({ min: 1, max: 16, budget }, platform({ createMs: 100 }));
    await pass(100);
    burst(sessions.pool, 16);
    await pass(3000);
    expect(sessions.pool.size).toBe(4);
    expect(oneShot.pool.size).toBe(1);
    expect(budget.room).toBe(0);
    // A min is kept even with no room left.
    const beyond = makePool({ min: 2, max: 2, budget });
    await pass(10);
    expect(beyond.pool.size).toBe(2);
  });

  it("hands a caller the sandbox being made, and none to more callers than are being made", async () => {
    const { pool } = makePool({ min: 0, max: 2 }, platform({ createMs: 1000 }));
    const first = pool.acquire();
    const second = pool.acquire();
    // Two are being made (max 2): a third caller makes its own at once.
    await expect(pool.acquire()).resolves.toBeUndefined();
    await pass(1000);
    await expect(first).resolves.toBe(0);
    await expect(second).resolves.toBe(1);
    for (let i = 0; i < 3; i++) pool.release();
  });

  it("sends waiting callers to make their own when the creation fails, or the pool closes", async () => {
    const failing = makePool({ min: 0, max: 1 }, platform({ createMs: 1000, fail: true }));
    const waiting = failing.pool.acquire();
    await pass(1000);
    await expect(waiting).resolves.toBeUndefined();
    failing.pool.release();

    const slow = makePool({ min: 0, max: 1 }, platform({ createMs: 60_000 }));
    const waitingForClose = slow.pool.acquire();
    const closed = slow.pool.close();
    await expect(waitingForClose).resolves.toBeUndefined();
    await pass(60_000);
    await closed;
    // What was being made when it closed is destroyed as it arrives.
    expect(slow.destroyed).toEqual([0]);
  });

  it("makes more at once while creations do not slow down, and steps back where they do", async () => {
    // A platform that serves 4 creations at once in 1 s each; more at once share it (each takes longer).
    const { pool } = makePool({ min: 0, max: 64, capacity: 64 }, platform({ duration: (underWay) => 1000 * Math.max(1, underWay / 4) }));
    expect(pool.refillConcurrency).toBe(2);
    burst(pool, 64);
    await pass(30_000);
    expect(pool.size).toBe(64);
    expect(pool.refillConcurrency).toBe(4);
  });

  it("grows its concurrency up to maxRefillConcurrency on a platform that keeps up", async () => {
    const { pool } = makePool({ min: 0, max: 64, capacity: 64, maxRefillConcurrency: 8 }, platform({ createMs: 1000 }));
    burst(pool, 64);
    await pass(30_000);
    expect(pool.size).toBe(64);
    expect(pool.refillConcurrency).toBe(8);
  });

  it("halves its concurrency when a creation fails", async () => {
    const { pool } = makePool({ min: 4, max: 4, refillConcurrency: 4 }, platform({ createMs: 100, fail: true }));
    await pass(100);
    expect(pool.refillConcurrency).toBe(1);
  });

  it("never lets warm, creating and in-use sandboxes pass the capacity", async () => {
    const { pool, created } = makePool({ min: 4, max: 4, capacity: 5 });
    await pass(10);
    pool.take();
    pool.take();
    pool.take();
    await pass(10);
    expect(pool.size).toBe(2);
    expect(created()).toBe(5);
  });

  it("holds its refill back while a handed-out sandbox is in use, until its release", async () => {
    const { pool, created } = makePool({ min: 1, max: 1, refillHoldMs: 60_000 });
    await pass(10);
    expect(pool.take()).toBe(0);
    await pass(10);
    // The request that took it is still running: no sandbox is started beside it.
    expect(created()).toBe(1);
    pool.release();
    await pass(10);
    expect(pool.size).toBe(1);
  });

  it("refills once the hold is over when the sandbox is not released (a long request)", async () => {
    const { pool, created } = makePool({ min: 1, max: 1, refillHoldMs: 100 });
    await pass(10);
    expect(pool.take()).toBe(0);
    await pass(50);
    expect(pool.size).toBe(0);
    await pass(100);
    expect(pool.size).toBe(1);
    expect(created()).toBe(2);
    pool.release();
  });

  it("holds its refill past the release and past a burst of takes until refillHoldMs, with holdEndsOn next-take (a session's first command)", async () => {
    const { pool, created } = makePool({ min: 3, max: 3, refillHoldMs: 200, holdEndsOn: "next-take" });
    await pass(10);
    expect(pool.take()).toBe(0);
    pool.release();
    await pass(150);
    expect(created()).toBe(3);
    await pass(100);
    expect(created()).toBe(4);
    // A burst served warm keeps the hold: its first commands run before sandboxes start beside them.
    expect(pool.take()).toBe(1);
    expect(pool.take()).toBe(2);
    await pass(150);
    expect(created()).toBe(4);
    await pass(100);
    expect(created()).toBe(6);
    expect(pool.size).toBe(3);
    // A session 50 ms or more after the one that started the hold: a stream, the refill goes on at once.
    expect(pool.take()).toBe(3);
    await pass(60);
    expect(created()).toBe(6);
    expect(pool.take()).toBe(4);
    await pass(10);
    expect(created()).toBe(8);
    pool.release();
    pool.release();
    pool.release();
    pool.release();
  });

  it("ends the hold when a request finds the pool empty", async () => {
    const { pool } = makePool({ min: 1, max: 1, refillHoldMs: 60_000, holdEndsOn: "next-take" }, platform({ createMs: 100 }));
    await pass(100);
    expect(pool.take()).toBe(0);
    expect(pool.take()).toBeUndefined();
    await pass(100);
    expect(pool.size).toBe(1);
    pool.release();
    pool.release();
  });

  it("refills at once when a request found it empty", async () => {
    const { pool } = makePool({ min: 0, max: 1, refillHoldMs: 60_000 });
    expect(pool.take()).toBeUndefined();
    await pass(10);
    expect(pool.size).toBe(1);
    pool.release();
  });

  it("destroys its warm sandboxes when closed", async () => {
    const { pool, destroyed } = makePool({ min: 3, max: 3 });
    await pass(10);
    await pool.close();
    expect(destroyed.sort()).toEqual([0, 1, 2]);
    expect(pool.size).toBe(0);
  });
});
