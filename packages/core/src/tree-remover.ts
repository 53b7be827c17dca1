import { removeTree } from "./remove-tree.js";

/** Options of a TreeRemover. */
export interface TreeRemoverOptions {
  /** Told once per tree that could not be removed, and once when a retry finally removes it. */
  warn: (message: string) => void;
  /** Wait before the first retry; each failure doubles it. @default 5 s */
  firstRetryMs?: number;
  /** Longest wait between retries. @default 1 h */
  maxRetryMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

interface Failed {
  attempts: number;
  nextAt: number;
}

/**
 * Removes directory trees (see removeTree) and never gives up on one: a
 * removal that failed is retried with exponential backoff by `retryDue`
 * (which a reaper calls each pass), and reported once, not every pass.
 */
export class TreeRemover {
  private readonly failed = new Map<string, Failed>();
  private readonly running = new Map<string, Promise<boolean>>();
  private readonly now: () => number;

  constructor(private readonly options: TreeRemoverOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Removes the tree now; true when it is gone. A failure is kept for retry, never thrown. */
  remove(path: string): Promise<boolean> {
    const running = this.running.get(path);
    if (running) return running;
    const attempt = this.attempt(path).finally(() => this.running.delete(path));
    this.running.set(path, attempt);
    return attempt;
  }

  /** Retries the failed removals whose wait is over. */
  async retryDue(): Promise<void> {
    const due = [...this.failed].filter(([, failed]) => failed.nextAt <= this.now()).map(([path]) => path);
    for (const path of due) await this.remove(path);
  }

  /** Whether this tree is waiting for a retry (so a caller scanning for leftovers leaves it to the backoff). */
  isWaiting(path: string): boolean {
    const failed = this.failed.get(path);
    return failed !== undefined && failed.nextAt > this.now();
  }

  /** Trees that could not be removed yet. */
  get pending(): string[] {
    return [...this.failed.keys()];
  }

  private async attempt(path: string): Promise<boolean> {
    const previous = this.failed.get(path);
    try {
      await removeTree(path);
      if (previous) {
        this.failed.delete(path);
        this.options.warn(`removed ${path} after ${previous.attempts + 1} attempts`);
      }
      return true;
    } catch (error) {
      const attempts = (previous?.attempts ?? 0) + 1;
      const wait = Math.min((this.options.firstRetryMs ?? 5000) * 2 ** (attempts - 1), this.options.maxRetryMs ?? 3_600_000);
      this.failed.set(path, { attempts, nextAt: this.now() + wait });
      if (!previous) this.options.warn(`${(error as Error).message} (retrying with backoff; reported once)`);
      return false;
    }
  }
}
