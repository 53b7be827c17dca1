import { mkdir, readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { TreeRemover } from "@code-interpreter/core/workspace";

/**
 * Where removed directories wait for their removal, on the same file system
 * as the state directory: one rename takes a session out of every listing,
 * however big or deep its tree; the removal that follows may fail (retried
 * with backoff, off the event loop) without the session coming back.
 */
export class Trash {
  private readonly remover: TreeRemover;

  constructor(
    private readonly dir: string,
    warn: (message: string) => void,
  ) {
    this.remover = new TreeRemover({ warn });
  }

  /** Moves the directory into the trash (to `remove` later): its path, or undefined when it was already gone. */
  async move(path: string, name: string): Promise<string | undefined> {
    const trashed = join(this.dir, `${name}.${Date.now()}`);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    try {
      await rename(path, trashed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    return trashed;
  }

  /** Removes a directory in place (a one-shot workspace nobody lists, or one `move` put here). */
  async remove(path: string): Promise<void> {
    await this.remover.remove(path);
  }

  /** Removes what earlier removals (also a crashed server's) left, leaving failed ones to their backoff. */
  async empty(): Promise<void> {
    await this.remover.retryDue();
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(this.dir, name);
      if (!this.remover.isWaiting(path)) await this.remover.remove(path);
    }
  }
}
