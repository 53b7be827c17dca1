import { afterEach, describe, expect, it } from "vitest";
import { WarmPool } from "./warm-pool.js";

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));
/** Waits until `done()`, for at most 10 s. */
const until = async (done: () => boolean) => {
  for (let waited = 0; !done() && waited < 10_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
};

describe("WarmPool", () => {
  let pool: WarmPool<number> | undefined;
  afterEach(async () => {
    await pool?.close();
  });

  const makePool = (options: { min?: number; max?: number; idleTimeoutMs?: number; capacity?: number } = {}) => {
    let next = 0;
    const destroyed: number[] = [];
    pool = new WarmPool({
      create: async () => next++,
      destroy: async (item) => {
        destroyed.push(item);
      },
      ...options,
    });
    return { pool, destroyed, created: () => next };
  };

  it("keeps min sandboxes warm and hands each out exactly once", async () => {
    const { pool } = makePool({ min: 2, max: 4 });
    await settle();
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

  it("grows to the demand it saw, within max", async () => {
    const { pool } = makePool({ min: 1, max: 3 });
    await settle();
    for (let i = 0; i < 5; i++) pool.take();
    await settle();
    expect(pool.size).toBe(3);
    for (let i = 0; i < 5; i++) pool.release();
  });

  it("keeps enough warm to cover requests that arrive while one is being made", async () => {
    let next = 0;
    pool = new WarmPool({
      create: async () => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        return next++;
      },
      destroy: async () => {},
      min: 1,
      max: 4,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Sixty requests, each done before the next: never more than one in use at once.
    for (let i = 0; i < 60; i++) {
      pool.take();
      pool.release();
    }
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(pool.size).toBe(2);
  });

  it("never lets warm, creating and in-use sandboxes pass the capacity", async () => {
    const { pool, created } = makePool({ min: 4, max: 4, capacity: 5 });
    await settle();
    pool.take();
    pool.take();
    pool.take();
    await settle();
    expect(pool.size).toBe(2);
    expect(created()).toBe(5);
  });

  it("holds its refill back while a handed-out sandbox is in use, until its release", async () => {
    let next = 0;
    pool = new WarmPool({ create: async () => next++, destroy: async () => {}, min: 1, max: 1, refillHoldMs: 60_000 });
    await settle();
    expect(pool.take()).toBe(0);
    await settle();
    // The request that took it is still running: no sandbox is started beside it.
    expect(next).toBe(1);
    pool.release();
    await settle();
    expect(pool.size).toBe(1);
  });

  it("refills once the hold is over when the sandbox is not released (a long request)", async () => {
    let next = 0;
    pool = new WarmPool({ create: async () => next++, destroy: async () => {}, min: 1, max: 1, refillHoldMs: 100 });
    await settle();
    expect(pool.take()).toBe(0);
    await until(() => pool?.size === 1);
    expect(next).toBe(2);
    pool.release();
  });

  it("refills at once when a request found it empty", async () => {
    pool = new WarmPool({ create: async () => 0, destroy: async () => {}, min: 0, max: 1, refillHoldMs: 60_000 });
    expect(pool.take()).toBeUndefined();
    await settle();
    expect(pool.size).toBe(1);
    pool.release();
  });

  it("destroys its warm sandboxes when closed", async () => {
    const { pool, destroyed } = makePool({ min: 3, max: 3 });
    await settle();
    await pool.close();
    expect(destroyed.sort()).toEqual([0, 1, 2]);
    expect(pool.size).toBe(0);
  });
});
