import type { PersistentRunner } from "./persistent-runner.js";

/** The longest a new kernel waits for the last one's stop; past it, a platform that does not answer is not waited for. */
const STOP_WAIT_MS = 10_000;

/**
 * The Python kernels of a backend's sessions, by session id: started on first
 * use, started again when the last one died, disposed when forgotten.
 */
export class SessionRunners<K extends Pick<PersistentRunner, "alive" | "dispose" | "whenStopped"> = PersistentRunner> {
  private readonly kernels = new Map<string, Promise<K>>();

  /**
   * The session's live kernel, or a new one from `start` once the last one's
   * stop is done (an abort does not wait for it; the new one must not start
   * while a kill by marker is still looking for the old one).
   */
  async get(sessionId: string, start: () => Promise<K>): Promise<K> {
    const existing = this.kernels.get(sessionId);
    const previous = await existing?.catch(() => undefined);
    if (existing && previous?.alive) return existing;
    if (previous) await Promise.race([previous.whenStopped(), new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
    const starting = start();
    this.kernels.set(sessionId, starting);
    starting.catch(() => {
      if (this.kernels.get(sessionId) === starting) this.kernels.delete(sessionId);
    });
    return starting;
  }

  /** Takes one started elsewhere (a warm session's) as the session's. */
  adopt(sessionId: string, kernel: Promise<K>): void {
    this.forget(sessionId);
    this.kernels.set(sessionId, kernel);
  }

  /** Disposes of the session's kernel, if it has one. */
  forget(sessionId: string): void {
    void this.kernels.get(sessionId)?.then(
      (kernel) => kernel.dispose(),
      () => {},
    );
    this.kernels.delete(sessionId);
  }

  /** Disposes of every kernel. */
  forgetAll(): void {
    for (const sessionId of [...this.kernels.keys()]) this.forget(sessionId);
  }
}
