import type { ExecutionResponse } from "@code-interpreter/core";
import type { RecordStore } from "@code-interpreter/files";

/** What kind of request started an execution. */
export type ExecutionKind = ExecutionResponse["kind"];

/** Where an execution stands. */
export type ExecutionState = ExecutionResponse["status"];

/** One server-sent event of an execution, numbered from 1 in the order it happened. */
export interface ExecutionEvent {
  id: number;
  event: "output" | "display" | "result" | "error";
  data: unknown;
}

/** The status record: the answer, and what only the server reads. */
export interface StoredExecution extends ExecutionResponse {
  tenant?: string;
  /** Unix seconds after which a `running` execution's server must have stopped without finishing it. */
  deadline_at: number;
  /** Event batches written; final once the status is not `running`. */
  batches: number;
}

/** Execution ids the server hands out; anything else is "not found" before any lookup. */
export const EXECUTION_ID = /^exec-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Events that end an execution's stream. */
export const isTerminal = (event: ExecutionEvent) => event.event === "result" || event.event === "error";

/** Record names of one execution: status, numbered event batches, and the cancel marker another replica leaves. */
export const executionRecords = {
  prefix: (id: string) => `executions/${id}/`,
  status: (id: string) => `executions/${id}/status`,
  batch: (id: string, index: number) => `executions/${id}/events/${String(index).padStart(8, "0")}`,
  cancel: (id: string) => `executions/${id}/cancel`,
};

/** The status record of `id`, or undefined. */
export async function readStoredExecution(records: RecordStore, id: string): Promise<StoredExecution | undefined> {
  if (!EXECUTION_ID.test(id)) return undefined;
  const bytes = await records.get(executionRecords.status(id));
  return bytes ? (JSON.parse(bytes.toString("utf8")) as StoredExecution) : undefined;
}

/** An event batch, or undefined when it is not written (yet). */
export async function readBatch(records: RecordStore, id: string, index: number): Promise<ExecutionEvent[] | undefined> {
  const bytes = await records.get(executionRecords.batch(id, index));
  return bytes ? (JSON.parse(bytes.toString("utf8")) as ExecutionEvent[]) : undefined;
}

/** The public answer of a status record. */
export function publicExecution(stored: StoredExecution): ExecutionResponse {
  const { tenant: _tenant, deadline_at: _deadline, batches: _batches, ...json } = stored;
  return json;
}
