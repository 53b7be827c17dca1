import type { SnapshotStorage } from "../engine/session-snapshots.js";

/**
 * The file store's record area (`SnapshotStorage`), in memory, with
 * create-if-absent as the stores have it: what the engine's snapshot tests
 * use, and what a tampering test edits through `records`.
 */
export class MemorySnapshotStorage implements SnapshotStorage {
  readonly records = new Map<string, Buffer>();
  /** Names written, in order (a lock's `ifAbsent` refusals are not writes). */
  readonly writes: string[] = [];
  async put(name: string, value: Uint8Array | string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    if (options.ifAbsent && this.records.has(name)) return false;
    this.records.set(name, Buffer.from(value));
    this.writes.push(name);
    return true;
  }
  async get(name: string): Promise<Buffer | undefined> {
    return this.records.get(name);
  }
  async delete(name: string): Promise<void> {
    this.records.delete(name);
  }
  async list(prefix: string): Promise<string[]> {
    return [...this.records.keys()].filter((name) => name.startsWith(prefix)).sort();
  }
}
