/** Chunk of output as it arrives, for streaming. */
export interface OutputChunk {
  stream: "stdout" | "stderr";
  data: string;
}

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
 * What takes a run's output as it comes, one callback per kind (in e2b's
 * manner), each optional: stdout and stderr as they arrive (decoded, cut at
 * the output limit like the answer's), and each rich result as soon as the
 * code shows it. The runner's decoder calls them, so every backend streams
 * without code of its own.
 */
export interface OutputCallbacks {
  onStdout?: (data: string) => void;
  onStderr?: (data: string) => void;
  /** A rich result (`display(obj)`, a figure, a bare last expression), before the run ends. */
  onResult?: (result: RichResult) => void;
}

/** Only the output callbacks of a larger options object. */
export function outputCallbacks({ onStdout, onStderr, onResult }: OutputCallbacks): OutputCallbacks {
  return { onStdout, onStderr, onResult };
}

/** Appended to stdout or stderr when it was cut at MAX_OUTPUT_BYTES. */
export const TRUNCATION_SUFFIX = "\n...[truncated]";

/**
 * Collects one output stream up to `maxBytes`, decoding UTF-8 once at the end
 * so multi-byte characters split across chunks survive.
 */
export class OutputCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  constructor(private readonly maxBytes: number) {}

  /** Adds a chunk; returns the part that was kept (empty once the limit is reached). */
  push(chunk: Uint8Array): Buffer {
    const room = this.maxBytes - this.size;
    const kept = Buffer.from(chunk.subarray(0, Math.max(0, room)));
    if (chunk.length > room) this.truncated = true;
    if (kept.length > 0) {
      this.chunks.push(kept);
      this.size += kept.length;
    }
    return kept;
  }

  /** Marks the stream as cut even if this collector saw no excess bytes (the sandbox cut it). */
  markTruncated(): void {
    this.truncated = true;
  }

  get isTruncated(): boolean {
    return this.truncated;
  }

  toString(): string {
    const text = Buffer.concat(this.chunks).toString("utf8");
    return this.truncated ? text + TRUNCATION_SUFFIX : text;
  }
}

/** Cuts a whole output at `maxBytes`, adding the truncation suffix when it was longer. */
export function truncateOutput(output: Uint8Array | string, maxBytes: number): string {
  const collector = new OutputCollector(maxBytes);
  collector.push(typeof output === "string" ? Buffer.from(output) : output);
  return collector.toString();
}
