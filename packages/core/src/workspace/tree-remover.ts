import { spawn } from "node:child_process";
import { lstat, rm } from "node:fs/promises";
import { CodeInterpreterError } from "../errors.js";

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

/** A directory tree that could not be removed (the message quotes what `rm` said). */
export class TreeRemovalError extends CodeInterpreterError {
  static override readonly code: string = "TreeRemovalError";
}

/**
 * Removes a directory tree that sandboxed code may have shaped: any depth
 * (far past PATH_MAX), any number of files, directories it made unreadable.
 * The work happens in child processes, off the event loop: GNU `rm -rf`
 * walks the tree with fts relative to directory descriptors (never through a
 * full path) and stays on one file system; when it fails, directories the
 * code locked (mode 000) are opened up with `find -execdir` (also relative)
 * and `rm` tries again. A path that does not exist counts as removed.
 */
export async function removeTree(path: string): Promise<void> {
  if (!(await exists(path))) return;
  const first = await run("rm", ["-rf", "--one-file-system", "--", path]);
  if (first.code === 0) return;
  if (first.code === undefined) {
    // No `rm` on this host (not Debian/Alpine coreutils or busybox): Node's own, which handles all but extreme depths.
    await rm(path, { recursive: true, force: true });
    return;
  }
  await run("find", ["-P", path, "-xdev", "-type", "d", "!", "-perm", "-u=rwx", "-execdir", "chmod", "u+rwx", "{}", ";"]);
  const second = await run("rm", ["-rf", "--one-file-system", "--", path]);
  if (second.code !== 0 && (await exists(path))) {
    throw new TreeRemovalError({ message: `could not remove ${path}: ${second.stderr || first.stderr || `rm exited ${second.code}`}` });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

const MAX_STDERR_BYTES = 4096;

/** Runs a program; `code` is undefined when it could not be started at all. */
function run(command: string, args: string[]): Promise<{ code: number | undefined; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" },
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString("utf8");
    });
    child.once("error", () => resolve({ code: undefined, stderr }));
    child.once("close", (code) => resolve({ code: code ?? 1, stderr: firstLines(stderr) }));
  });
}

/** rm reports every file it could not remove: the first few say enough. */
function firstLines(text: string): string {
  return text.trim().split("\n").slice(0, 3).join("; ");
}
