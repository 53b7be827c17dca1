import type { Tenancy } from "./auth/tenancy.js";
import type { ConcurrencyLimit } from "./middleware/concurrency-limit.js";

/**
 * The one place executions take their slot: every foreground execution,
 * stream and background execution holds one of its tenant's
 * (TENANT_MAX_CONCURRENT_EXECUTIONS) and one of the server's
 * (MAX_CONCURRENT_EXECUTIONS) until it ends. When either is full the
 * acquisition throws the 429 (with Retry-After) before anything starts.
 */
export class ExecutionSlots {
  constructor(
    private readonly server: ConcurrencyLimit,
    private readonly tenancy: Tenancy,
  ) {}

  /** Executions holding a slot of the server's. */
  get running(): number {
    return this.server.running;
  }

  /** Takes both slots, or throws TooManyRequestsError; the release (idempotent) gives back both. */
  acquire(tenant: string | undefined): () => void {
    const releaseTenant = this.tenancy.acquireExecution(tenant);
    try {
      const releaseServer = this.server.acquire();
      return () => {
        releaseServer();
        releaseTenant();
      };
    } catch (error) {
      releaseTenant();
      throw error;
    }
  }

  /** Runs `work` holding the slots. */
  async run<T>(tenant: string | undefined, work: () => Promise<T>): Promise<T> {
    const release = this.acquire(tenant);
    try {
      return await work();
    } finally {
      release();
    }
  }
}
