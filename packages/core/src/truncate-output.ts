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
