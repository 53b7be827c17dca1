import type { OutputChunk } from "./runner-protocol.js";

/** MIME types a result's `data` may hold; `text/plain` is always there. */
export const RICH_MIME_TYPES = [
  "text/plain",
  "text/html",
  "text/markdown",
  "text/latex",
  "image/png",
  "image/jpeg",
  "image/svg+xml",
  "application/json",
  "application/pdf",
] as const;
export type RichMimeType = (typeof RICH_MIME_TYPES)[number];

/** MIME types whose data is binary: base64 in a result, or a stored file's `{file_id}` when large. */
export const BINARY_MIME_TYPES: readonly RichMimeType[] = ["image/png", "image/jpeg", "application/pdf"];

/** A structured description of a simple matplotlib plot (one axes). */
export interface RichChart {
  type: "line" | "bar" | "scatter" | "pie";
  title: string | null;
  x_label: string | null;
  y_label: string | null;
  series: Record<string, unknown>[];
  [key: string]: unknown;
}

/**
 * One thing the code showed, like a notebook's output: `display(obj)`, an open
 * figure, or (`isMainResult`) the value of a bare last expression. `data` is
 * keyed by MIME type: text as strings, binary as base64, `application/json` as JSON.
 */
export interface RichResult {
  isMainResult: boolean;
  data: Partial<Record<RichMimeType, unknown>>;
  chart?: RichChart;
}

/** The exception the code raised: its class name, its message, and the traceback of the user's code. */
export interface CodeError {
  name: string;
  value: string;
  traceback: string;
}

/**
 * What backends call with output: a function taking stdout/stderr chunks which
 * may carry `onDisplay`, called with each rich result as soon as the runner
 * sends it. Backends hand it to the runner's decoder unchanged, so display
 * events stream on every backend without code of their own.
 */
export type OutputListener = ((chunk: OutputChunk) => void) & { onDisplay?: (result: RichResult) => void };

/** An output listener that also hears rich results. */
export function withDisplay(onOutput: (chunk: OutputChunk) => void, onDisplay: (result: RichResult) => void): OutputListener {
  return Object.assign((chunk: OutputChunk) => onOutput(chunk), { onDisplay });
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** A result the runner sent, kept only where well-formed (the sandbox is not trusted). */
export function parseRichResult(value: unknown): RichResult | undefined {
  if (!isRecord(value) || !isRecord(value.data)) return undefined;
  const data: RichResult["data"] = {};
  for (const mime of RICH_MIME_TYPES) {
    const item = value.data[mime];
    if (item === undefined) continue;
    if (mime === "application/json" || typeof item === "string") data[mime] = item;
  }
  if (typeof data["text/plain"] !== "string") data["text/plain"] = "";
  const chart = isRecord(value.chart) && typeof value.chart.type === "string" ? (value.chart as unknown as RichChart) : undefined;
  return { isMainResult: value.is_main_result === true, data, ...(chart ? { chart } : {}) };
}

/** The runner's `exception`, or null. */
export function parseCodeError(value: unknown): CodeError | null {
  if (!isRecord(value)) return null;
  const text = (key: string) => (typeof value[key] === "string" ? (value[key] as string) : "");
  if (!text("name")) return null;
  return { name: text("name"), value: text("value"), traceback: text("traceback") };
}
