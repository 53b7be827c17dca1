import { randomUUID } from "node:crypto";
import { link, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { FileSource } from "./file-store.js";
import { assertRecordName, type RecordOptions, type RecordStore, recordSource } from "./record-store.js";

/** The header line every record file starts with: its expiry, in unix milliseconds. */
const HEADER_BYTES = 32;

/**
 * Records as files under `<dir>/records/`, one per record (its name
 * URL-encoded), starting with a line holding its expiry. Written to a
 * temporary name first: `put` renames it into place, `ifAbsent` links it
 * (which fails when the name exists), so a record is whole or absent and
 * two writers never both create one.
 */
export class DirectoryRecordStore implements RecordStore {
  private readonly dir: string;
  private readonly temporaries: string;

  constructor(root: string) {
    this.dir = join(root, "records");
    this.temporaries = join(root, "tmp");
  }

  /** Creates the records directory. */
  async open(): Promise<this> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return this;
  }

  async put(name: string, value: FileSource | string, options: RecordOptions): Promise<boolean> {
    const path = this.path(name);
    const temporary = join(this.temporaries, `record-${randomUUID()}`);
    const handle = await open(temporary, "wx", 0o600);
    try {
      await handle.write(Buffer.from(`${Date.now() + options.ttlSeconds * 1000}\n`.padStart(HEADER_BYTES, "0")));
      const source = recordSource(value);
      for await (const chunk of source instanceof Uint8Array ? [source] : source) await handle.write(chunk);
      await handle.sync();
      await handle.close();
      if (!options.ifAbsent) {
        await rename(temporary, path);
        return true;
      }
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await link(temporary, path);
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
          // An expired record of that name counts as absent: remove it and try once more (gone meanwhile: just retry).
          const expiry = await this.expiryOf(path);
          if (expiry === Number.POSITIVE_INFINITY) continue;
          if (expiry > Date.now()) return false;
          await rm(path, { force: true });
        }
      }
      return false;
    } finally {
      await handle.close().catch(() => {});
      await rm(temporary, { force: true });
    }
  }

  async get(name: string): Promise<Buffer | undefined> {
    const stream = await this.stream(name);
    if (!stream) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async stream(name: string): Promise<Readable | undefined> {
    const handle = await open(this.path(name), "r").catch((error) => {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    });
    if (!handle) return undefined;
    const header = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await handle.read(header, 0, HEADER_BYTES, 0);
    if (bytesRead < HEADER_BYTES || Number(header.toString("utf8").trim()) <= Date.now()) {
      await handle.close();
      return undefined;
    }
    return handle.createReadStream({ start: HEADER_BYTES });
  }

  async delete(name: string): Promise<void> {
    await rm(this.path(name), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const now = Date.now();
    const names: string[] = [];
    for (const entry of await readdir(this.dir)) {
      const name = decodeURIComponent(entry);
      if (name.startsWith(prefix) && (await this.expiryOf(join(this.dir, entry))) > now) names.push(name);
    }
    return names.sort();
  }

  async purgeExpired(): Promise<number> {
    let purged = 0;
    const now = Date.now();
    for (const entry of await readdir(this.dir)) {
      if ((await this.expiryOf(join(this.dir, entry))) > now) continue;
      await rm(join(this.dir, entry), { force: true });
      purged++;
    }
    return purged;
  }

  /** Unix milliseconds the record at `path` expires at; 0 (expired) when unreadable, Infinity when gone meanwhile. */
  private async expiryOf(path: string): Promise<number> {
    const handle = await open(path, "r").catch(() => undefined);
    if (!handle) return Number.POSITIVE_INFINITY;
    try {
      const header = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await handle.read(header, 0, HEADER_BYTES, 0);
      return bytesRead < HEADER_BYTES ? 0 : Number(header.toString("utf8").trim()) || 0;
    } finally {
      await handle.close();
    }
  }

  private path(name: string): string {
    return join(this.dir, encodeURIComponent(assertRecordName(name)));
  }
}
