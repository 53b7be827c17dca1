import { randomUUID } from "node:crypto";
import { type ExecutionResponse, type OutputCallbacks, type RichResult, SessionNotFoundError } from "@code-interpreter/core";
import type { FileAccess, RecordStore } from "@code-interpreter/files";
import type { ExecutionSlots } from "../execution-slots.js";
import type { Logger } from "../observability/logger.js";
import {
  EXECUTION_ID,
  type ExecutionEvent,
  type ExecutionKind,
  executionRecords,
  isTerminal,
  publicExecution,
  readBatch,
  readStoredExecution,
  type StoredExecution,
} from "./execution-records.js";
import { LiveExecution } from "./live-execution.js";

/** How often a running persisted execution's new events are written to the store. */
const FLUSH_INTERVAL_MS = 500;
/** How often this replica looks for cancel markers another replica left for its executions. */
const CANCEL_POLL_MS = 2000;
/** A follower on another replica polls the store this often at first, backing off to the maximum. */
const FOLLOW_POLL_MIN_MS = 100;
const FOLLOW_POLL_MAX_MS = 1000;
/** Past its own timeout, how long an execution may still be finishing before it counts as lost with its server. */
const FINISH_GRACE_SECONDS = 120;
/** DELETE waits this long for a cancelled execution to end, so a GET right after shows `cancelled`. */
const CANCEL_WAIT_MS = 10_000;

/** Settings of the executions service. */
export interface ExecutionsOptions {
  records: RecordStore;
  slots: ExecutionSlots;
  logger: Logger;
  /** @default EXECUTION_RESULT_TTL_SECONDS */
  resultTtlSeconds: number;
}

/** What to run, and how it is kept. */
export interface ExecutionSpec {
  kind: ExecutionKind;
  owner: FileAccess;
  sessionId?: string;
  timeoutMs: number;
  /** Whether the status and events go to the store (background and resumable executions), visible on every replica. */
  persisted: boolean;
  /** Runs the code; its output goes to `callbacks`, and it stops when `signal` aborts. Resolves with the route's whole answer. */
  run(callbacks: OutputCallbacks, signal: AbortSignal): Promise<{ stdout?: string; stderr?: string } & object>;
  /** The message a client is told for an error (and its log line). */
  describe(error: unknown): string;
  /** Display events' JSON (rich results stored as the route stores them). */
  displayJson?: (result: RichResult) => Promise<object> | object;
}

/**
 * Executions as resources: started here (holding their slot until they
 * end), numbered events for streams, and for persisted ones a status,
 * result and event log in the store that any replica reads, follows and
 * cancels (a cancel marker the owning replica polls for).
 */
export class Executions {
  private readonly live = new Map<string, LiveExecution>();
  private readonly timers: NodeJS.Timeout[];

  constructor(private readonly options: ExecutionsOptions) {
    this.timers = [setInterval(() => void this.flushAll(), FLUSH_INTERVAL_MS), setInterval(() => void this.pollCancels(), CANCEL_POLL_MS)];
    for (const timer of this.timers) timer.unref();
  }

  /**
   * Takes the slot (429 when none is free: nothing is accepted), writes the
   * initial status of a persisted execution (so any replica finds it as soon as this
   * resolves), and starts it. The returned execution runs until its own
   * timeout or a cancel, whoever is listening.
   */
  async start(spec: ExecutionSpec): Promise<LiveExecution> {
    const release = this.options.slots.acquire(spec.owner.tenant);
    const id = `exec-${randomUUID()}`;
    const createdAt = Math.floor(Date.now() / 1000);
    const ttlSeconds = () => Math.ceil(spec.timeoutMs / 1000) + FINISH_GRACE_SECONDS + this.options.resultTtlSeconds;
    const { records } = this.options;
    const execution = new LiveExecution(id, spec.owner.tenant, spec.persisted ? { records, ttlSeconds } : undefined);
    const stored: StoredExecution = {
      execution_id: id,
      status: "running",
      kind: spec.kind,
      ...(spec.sessionId ? { session_id: spec.sessionId } : {}),
      created_at: createdAt,
      ...(spec.owner.tenant === undefined ? {} : { tenant: spec.owner.tenant }),
      deadline_at: createdAt + Math.ceil(spec.timeoutMs / 1000) + FINISH_GRACE_SECONDS,
      batches: 0,
    };
    if (spec.persisted) {
      try {
        await records.put(executionRecords.status(id), JSON.stringify(stored), { ttlSeconds: ttlSeconds() });
      } catch (error) {
        release();
        throw error;
      }
      this.live.set(id, execution);
    }
    void this.runToEnd(execution, spec, stored, release);
    return execution;
  }

  /** The execution's status (and answer when done), if the caller may see it; 404 otherwise. */
  async get(id: string, view: FileAccess): Promise<ExecutionResponse> {
    return publicExecution(await this.stored(id, view));
  }

  /**
   * The execution's events after `afterId`, replayed and then followed live
   * until its result or error: from memory and the store when it runs here,
   * from the store (polled) when another replica runs it. 404 (thrown before
   * the first event) when the caller may not see it.
   */
  async follow(id: string, view: FileAccess, afterId: number, signal?: AbortSignal): Promise<AsyncGenerator<ExecutionEvent>> {
    const live = this.live.get(id);
    if (live && visible(view, live.tenant)) return live.events(afterId, signal);
    const stored = await this.stored(id, view);
    return this.followStored(stored, afterId, signal);
  }

  /** Cancels a running execution (it ends `cancelled`) or forgets a finished one; 404 when the caller may not see it. */
  async delete(id: string, view: FileAccess): Promise<void> {
    const stored = await this.stored(id, view);
    if (stored.status !== "running") {
      await this.forget(id);
      return;
    }
    const live = this.live.get(id);
    if (live) live.controller.abort(new CancelledError());
    else await this.options.records.put(executionRecords.cancel(id), "", { ttlSeconds: this.options.resultTtlSeconds });
    const until = Date.now() + CANCEL_WAIT_MS;
    while (Date.now() < until && (await readStoredExecution(this.options.records, id))?.status === "running") {
      await sleep(200);
    }
  }

  /** Stops the background work; executions still running here end `failed` (the server stopped), within a bound. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    const running = [...this.live.values()];
    for (const execution of running) execution.controller.abort(new Error("The server stopped before the execution finished"));
    const until = Date.now() + CANCEL_WAIT_MS;
    while (this.live.size > 0 && Date.now() < until) await sleep(100);
  }

  private async runToEnd(execution: LiveExecution, spec: ExecutionSpec, stored: StoredExecution, release: () => void) {
    const callbacks: OutputCallbacks = {
      onStdout: (data) => void execution.emit("output", { stream: "stdout", data }),
      onStderr: (data) => void execution.emit("output", { stream: "stderr", data }),
      onResult: (result) => void execution.emit("display", spec.displayJson ? spec.displayJson(result) : result),
    };
    let final: StoredExecution;
    try {
      const answer = await spec.run(callbacks, execution.signal);
      const { stdout: _stdout, stderr: _stderr, ...rest } = answer;
      await execution.emit("result", rest);
      final = { ...stored, status: "completed", result: answer };
    } catch (error) {
      const cancelled = CancelledError.isCancel(execution.signal.reason);
      // Aborts are ours (a cancel, a client that left, the server stopping): their reason is the message, nothing to log.
      const reason = execution.signal.reason;
      const detail = execution.signal.aborted ? (reason instanceof Error ? reason.message : String(reason)) : spec.describe(error);
      await execution.emit("error", { message: detail });
      final = { ...stored, status: cancelled ? "cancelled" : "failed", error: { detail } };
    } finally {
      release();
    }
    await execution.settled();
    try {
      if (spec.persisted) {
        // Every batch before the final status: a follower that sees the status finished has every event.
        for (let attempt = 0; attempt < 5 && !execution.flushed; attempt++) await execution.flush();
        final = { ...final, finished_at: Math.floor(Date.now() / 1000), batches: execution.batches };
        await this.options.records.put(executionRecords.status(execution.id), JSON.stringify(final), {
          ttlSeconds: this.options.resultTtlSeconds,
        });
        await this.options.records.delete(executionRecords.cancel(execution.id));
      }
    } catch (error) {
      this.options.logger.warn({ err: error, execution_id: execution.id }, "could not store an execution's result");
    } finally {
      this.live.delete(execution.id);
      execution.end();
    }
  }

  private async *followStored(stored: StoredExecution, afterId: number, signal?: AbortSignal): AsyncGenerator<ExecutionEvent> {
    const { records } = this.options;
    const id = stored.execution_id;
    let last = afterId;
    let delay = FOLLOW_POLL_MIN_MS;
    for (let index = 0; !signal?.aborted; ) {
      const batch = await readBatch(records, id, index);
      if (batch) {
        index++;
        delay = FOLLOW_POLL_MIN_MS;
        for (const event of batch) {
          if (event.id <= last) continue;
          last = event.id;
          yield event;
          if (isTerminal(event)) return;
        }
        continue;
      }
      const now = await readStoredExecution(records, id);
      if (!now) return;
      if (now.status !== "running" && index >= now.batches) return;
      if (now.status === "running" && Date.now() / 1000 > now.deadline_at) {
        yield { id: last + 1, event: "error", data: { message: lostMessage } };
        return;
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, FOLLOW_POLL_MAX_MS);
    }
  }

  private async stored(id: string, view: FileAccess): Promise<StoredExecution> {
    const stored = EXECUTION_ID.test(id) ? await readStoredExecution(this.options.records, id) : undefined;
    if (!stored || !visible(view, stored.tenant)) {
      throw new ExecutionNotFoundError({ message: `Execution ${JSON.stringify(id)} not found` });
    }
    if (stored.status === "running" && Date.now() / 1000 > stored.deadline_at && !this.live.has(id)) {
      return { ...stored, status: "failed", error: { detail: lostMessage } };
    }
    return stored;
  }

  private async forget(id: string): Promise<void> {
    for (const name of await this.options.records.list(executionRecords.prefix(id))) await this.options.records.delete(name);
  }

  private async flushAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((execution) => execution.flush().catch(() => {})));
  }

  private async pollCancels(): Promise<void> {
    for (const execution of this.live.values()) {
      const marker = await this.options.records.get(executionRecords.cancel(execution.id)).catch(() => undefined);
      if (marker !== undefined) execution.controller.abort(new CancelledError());
    }
  }
}

const lostMessage = "The server running this execution stopped before it finished";

/** An unknown, expired or other tenant's execution: 404, like a missing session. */
export class ExecutionNotFoundError extends SessionNotFoundError {}

/** The reason a cancelled execution's signal carries. */
class CancelledError extends Error {
  constructor() {
    super("Execution cancelled");
  }
  static isCancel(reason: unknown): boolean {
    return reason instanceof CancelledError;
  }
}

function visible(view: FileAccess, tenant: string | undefined): boolean {
  return view.tenant === undefined || view.tenant === tenant;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
