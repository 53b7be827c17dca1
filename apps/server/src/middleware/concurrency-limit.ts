import { TooManyRequestsError } from "@code-interpreter/core";

/** Caps executions running at once (MAX_CONCURRENT_EXECUTIONS); past it, 429 with Retry-After. */
export class ConcurrencyLimit {
  private active = 0;

  constructor(
    readonly max: number,
    /** The setting named in the 429's message. */
    private readonly setting = "MAX_CONCURRENT_EXECUTIONS",
  ) {}

  get running(): number {
    return this.active;
  }

  /** Takes a slot and returns its release, or throws TooManyRequestsError when none is free. */
  acquire(): () => void {
    if (this.active >= this.max) {
      throw new TooManyRequestsError({
        message: `Too many executions at once (${this.setting}=${this.max}); retry shortly`,
        retryAfterSeconds: 1,
      });
    }
    this.active++;
    let released = false;
    return () => {
      if (!released) this.active--;
      released = true;
    };
  }

  /** Runs `work` in a slot, or throws TooManyRequestsError when none is free. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }
}
