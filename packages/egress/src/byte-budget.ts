import { Transform } from "node:stream";

/**
 * One sandbox's bytes: a total it may not pass, and a rate it is slowed down
 * to (a token bucket holding one second's worth). Both directions count.
 */
export class ByteBudget {
  used = 0;
  exhausted = false;
  private tokens: number;
  private refilledAt = Date.now();

  constructor(
    private readonly maxBytes: number,
    private readonly bytesPerSecond: number,
    private readonly onExhausted: () => void,
  ) {
    this.tokens = bytesPerSecond;
  }

  /** Counts `length` bytes: how long to hold them back (ms), or undefined when the total is now over its bound. */
  take(length: number): number | undefined {
    if (this.exhausted) return undefined;
    this.used += length;
    if (this.maxBytes > 0 && this.used > this.maxBytes) {
      this.exhausted = true;
      this.onExhausted();
      return undefined;
    }
    if (this.bytesPerSecond <= 0) return 0;
    const now = Date.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.refilledAt) * this.bytesPerSecond) / 1000);
    this.refilledAt = now;
    this.tokens -= length;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }

  /** A pass-through stream that counts what flows through it against this budget, and slows it down. */
  meter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        const delay = this.take(chunk.length);
        if (delay === undefined) callback(new Error("the sandbox went over its egress byte bound"));
        else if (delay === 0) callback(null, chunk);
        else setTimeout(() => callback(null, chunk), delay).unref();
      },
    });
  }
}
