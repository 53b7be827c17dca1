import type { CodeError, RichChart, RichResult } from "../output.js";
import { RICH_MIME_TYPES } from "../output.js";

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
