import type { RecordStore } from "@code-interpreter/files";
import { type ExecutionEvent, executionRecords, isTerminal, readBatch } from "./execution-records.js";

/** What a follower sees when it joins: the events it must replay, and where the store's batches end. */
interface Subscription {
  /** Batches already in the store (0 ‥ written-1). */
  written: number;
  /** Events since then, in memory: those being written and those not yet. */
  snapshot: ExecutionEvent[];
  unsubscribe(): void;
}

/**
 * An execution running on this replica: numbers its events in order
 * (`emit` keeps the order even when an event's data is still being made)
 * and hands them to its followers. A persisted one also writes them to the
 * store in batches (`flush`), so a follower on any replica can replay them;
 * only the events not yet written are held in memory.
 */
export class LiveExecution {
  readonly controller = new AbortController();
  private nextId = 1;
  private chain: Promise<void> = Promise.resolve();
  private pending: ExecutionEvent[] = [];
  private inflight: ExecutionEvent[] = [];
  private writing: Promise<void> | undefined;
  private written = 0;
  private readonly listeners = new Set<(event: ExecutionEvent | undefined) => void>();
  private ended = false;

  constructor(
    readonly id: string,
    readonly tenant: string | undefined,
    /** Where the events go, when the execution is persisted. */
    private readonly persist: { records: RecordStore; ttlSeconds: () => number } | undefined,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Batches written so far. */
  get batches(): number {
    return this.written;
  }

  /** Adds an event after every earlier one, once its data is ready; resolves when it is numbered. */
  emit(event: ExecutionEvent["event"], data: unknown): Promise<void> {
    this.chain = this.chain.then(async () => {
      let value: unknown;
      try {
        value = await data;
      } catch {
        return; // a display that could not be mapped is left out, as before
      }
      const numbered = { id: this.nextId++, event, data: value };
      // Not persisted: held only until its one follower (the stream that started it) joins.
      if (this.persist || this.listeners.size === 0) this.pending.push(numbered);
      for (const listener of this.listeners) listener(numbered);
    });
    return this.chain;
  }

  /** Waits for every event emitted so far to be numbered. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Writes the events not yet in the store as the next batch; one write at a time, retried on the next call if the store fails. */
  flush(): Promise<void> {
    if (!this.persist) return Promise.resolve();
    const writing = this.writing;
    if (writing) return writing.then(() => this.flush());
    if (this.pending.length === 0) return Promise.resolve();
    const { records, ttlSeconds } = this.persist;
    this.inflight = this.pending;
    this.pending = [];
    const write = records
      .put(executionRecords.batch(this.id, this.written), JSON.stringify(this.inflight), { ttlSeconds: ttlSeconds() })
      .then(
        () => {
          this.written++;
          this.inflight = [];
        },
        () => {
          this.pending = [...this.inflight, ...this.pending];
          this.inflight = [];
        },
      )
      .finally(() => {
        this.writing = undefined;
      });
    this.writing = write;
    return write;
  }

  /** Whether every event has been written (after the last flush). */
  get flushed(): boolean {
    return this.pending.length === 0 && this.inflight.length === 0 && !this.writing;
  }

  /** Tells the followers there is nothing more. */
  end(): void {
    this.ended = true;
    for (const listener of this.listeners) listener(undefined);
    this.listeners.clear();
  }

  /** Joins: the listener hears every event from now on (undefined at the end); the snapshot holds what the store does not have yet. */
  subscribe(listener: (event: ExecutionEvent | undefined) => void): Subscription {
    if (this.ended) queueMicrotask(() => listener(undefined));
    else this.listeners.add(listener);
    const snapshot = [...this.inflight, ...this.pending];
    if (!this.persist) this.pending = [];
    return {
      written: this.written,
      snapshot,
      unsubscribe: () => this.listeners.delete(listener),
    };
  }

  /**
   * The events after `afterId`: replayed from the store (a persisted
   * execution), then from memory, then live until the result or error; each
   * exactly once. Stops early when `signal` aborts.
   */
  async *events(afterId: number, signal?: AbortSignal): AsyncGenerator<ExecutionEvent> {
    const queue: (ExecutionEvent | undefined)[] = [];
    let wake: (() => void) | undefined;
    const subscription = this.subscribe((event) => {
      queue.push(event);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort);
    let last = afterId;
    try {
      if (this.persist) {
        for (let index = 0; index < subscription.written; index++) {
          for (const event of (await readBatch(this.persist.records, this.id, index)) ?? []) {
            if (event.id <= last) continue;
            last = event.id;
            yield event;
            if (isTerminal(event)) return;
          }
        }
      }
      for (const event of subscription.snapshot) {
        if (event.id <= last) continue;
        last = event.id;
        yield event;
        if (isTerminal(event)) return;
      }
      while (!signal?.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (signal?.aborted) resolve();
          });
          wake = undefined;
          continue;
        }
        const event = queue.shift();
        if (event === undefined) return;
        if (event.id <= last) continue;
        last = event.id;
        yield event;
        if (isTerminal(event)) return;
      }
    } finally {
      subscription.unsubscribe();
      signal?.removeEventListener("abort", onAbort);
    }
  }
}
