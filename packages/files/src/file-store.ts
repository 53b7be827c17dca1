import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Readable } from "node:stream";
import { type FileMetadata, FileNotFoundError, PayloadTooLargeError } from "@code-interpreter/core";

/** Settings of a file store. */
export interface FileStoreOptions {
  /** Where files live; created if missing. @default FILE_STORAGE_DIR */
  dir: string;
  /** Largest file accepted, in bytes. @default MAX_FILE_SIZE_MB */
  maxFileBytes: number;
  /** Files older than this are gone. @default FILE_TTL_SEC */
  ttlSeconds: number;
}

/** A stored file's metadata, with the tenant that stored it (kept out of API answers). */
export interface StoredFile extends FileMetadata {
  tenant?: string;
}

/**
 * Whose files a call may see: only `tenant`'s when it is set, every file when
 * it is not (a single-tenant server, or an admin). Another tenant's file is
 * "not found", never "forbidden".
 */
export interface FileAccess {
  tenant?: string | undefined;
}

const FILE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Files on the local filesystem: `<id>.bin` holds the bytes, `<id>.json` the
 * metadata. Both are written to a temporary name and renamed, data first, so a
 * file is either complete or absent; both are synced to disk, with the
 * directory, before save() returns, so an acknowledged upload survives a crash.
 */
export class FileStore {
  private constructor(readonly options: FileStoreOptions) {}

  static async open(options: FileStoreOptions): Promise<FileStore> {
    await mkdir(join(options.dir, "tmp"), { recursive: true, mode: 0o700 });
    const store = new FileStore(options);
    await store.clearTemporaries();
    return store;
  }

  /**
   * Saves a file from a stream, counting bytes as they arrive: past
   * `maxFileBytes` it stops reading, deletes what it wrote and throws
   * PayloadTooLargeError.
   */
  async save(source: AsyncIterable<Uint8Array> | Uint8Array, filename: string, owner: FileAccess = {}): Promise<StoredFile> {
    const fileId = randomUUID();
    const temporary = join(this.options.dir, "tmp", `${fileId}.bin`);
    const handle = await open(temporary, "wx", 0o600);
    let size = 0;
    try {
      const chunks = source instanceof Uint8Array ? [source] : source;
      for await (const chunk of chunks) {
        size += chunk.length;
        if (size > this.options.maxFileBytes) {
          if (!(source instanceof Uint8Array)) (source as Readable).destroy?.();
          throw new PayloadTooLargeError({
            message: `File is larger than the limit of ${formatBytes(this.options.maxFileBytes)} (MAX_FILE_SIZE_MB)`,
          });
        }
        await handle.write(chunk);
      }
      // On disk before the rename and the 201: a crash after the answer must not lose the bytes.
      await handle.sync();
      await handle.close();
      await rename(temporary, this.dataPath(fileId));
    } catch (error) {
      await handle.close().catch(() => {});
      await rm(temporary, { force: true });
      throw error;
    }
    const metadata: StoredFile = {
      file_id: fileId,
      filename: cleanFilename(filename),
      size_bytes: size,
      upload_time: new Date().toISOString(),
      ...(owner.tenant === undefined ? {} : { tenant: owner.tenant }),
    };
    const metadataTemporary = join(this.options.dir, "tmp", `${fileId}.json`);
    await writeDurably(metadataTemporary, JSON.stringify(metadata));
    await rename(metadataTemporary, this.metadataPath(fileId));
    // The renames themselves live in the directory: sync it so both names survive a crash.
    await syncDirectory(this.options.dir);
    return metadata;
  }

  /** Metadata of a stored, unexpired file the caller may see; FileNotFoundError otherwise. */
  async metadata(fileId: string, access: FileAccess = {}): Promise<StoredFile> {
    const notFound = () => new FileNotFoundError({ message: `File ${JSON.stringify(fileId)} not found` });
    if (!FILE_ID.test(fileId)) throw notFound();
    let metadata: StoredFile;
    try {
      metadata = JSON.parse(await readFile(this.metadataPath(fileId), "utf8")) as StoredFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw notFound();
      throw error;
    }
    if (this.isExpired(metadata)) {
      await this.remove(fileId);
      throw notFound();
    }
    if (access.tenant !== undefined && metadata.tenant !== access.tenant) throw notFound();
    return metadata;
  }

  /** The whole file in memory (for staging into a sandbox). */
  async read(fileId: string, access: FileAccess = {}): Promise<Buffer> {
    await this.metadata(fileId, access);
    // Deleted since the metadata was read: still "not found", never a bare ENOENT (a 500).
    return readFile(this.dataPath(fileId)).catch((error) => {
      throw this.goneError(fileId, error);
    });
  }

  /** The file as a stream (for downloads). */
  async stream(fileId: string, access: FileAccess = {}): Promise<{ metadata: StoredFile; stream: Readable }> {
    const metadata = await this.metadata(fileId, access);
    // Opened before answering, so a file deleted meanwhile is a 404 rather than a broken download.
    const handle = await open(this.dataPath(fileId), "r").catch((error) => {
      throw this.goneError(fileId, error);
    });
    return { metadata, stream: handle.createReadStream() };
  }

  /** Every stored, unexpired file the caller may see, oldest first. */
  async list(access: FileAccess = {}): Promise<StoredFile[]> {
    const files: StoredFile[] = [];
    for (const name of await readdir(this.options.dir)) {
      if (!name.endsWith(".json")) continue;
      try {
        files.push(await this.metadata(name.slice(0, -".json".length), access));
      } catch (error) {
        if (!FileNotFoundError.isInstance(error)) throw error;
      }
    }
    return files.sort((a, b) => a.upload_time.localeCompare(b.upload_time));
  }

  /** Deletes a file; FileNotFoundError if there is none. */
  async delete(fileId: string, access: FileAccess = {}): Promise<void> {
    await this.metadata(fileId, access);
    await this.remove(fileId);
  }

  /** Deletes expired files and returns how many; also what an interrupted upload left. */
  async purgeExpired(): Promise<number> {
    let purged = 0;
    for (const name of await readdir(this.options.dir)) {
      if (!name.endsWith(".json")) continue;
      const fileId = name.slice(0, -".json".length);
      try {
        const metadata = JSON.parse(await readFile(this.metadataPath(fileId), "utf8")) as FileMetadata;
        if (!this.isExpired(metadata)) continue;
      } catch {
        // unreadable metadata: the file is unusable, remove it
      }
      await this.remove(fileId);
      purged++;
    }
    return purged;
  }

  /** Bytes of the stored files the caller may see (all of them by default). */
  async totalBytes(access: FileAccess = {}): Promise<number> {
    return (await this.list(access)).reduce((sum, file) => sum + file.size_bytes, 0);
  }

  private goneError(fileId: string, error: unknown): unknown {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") return error;
    return new FileNotFoundError({ message: `File ${JSON.stringify(fileId)} not found`, cause: error });
  }

  private isExpired(metadata: FileMetadata): boolean {
    return Date.parse(metadata.upload_time) + this.options.ttlSeconds * 1000 <= Date.now();
  }

  private async remove(fileId: string): Promise<void> {
    // Metadata first: once it is gone the file no longer exists for readers.
    await rm(this.metadataPath(fileId), { force: true });
    await rm(this.dataPath(fileId), { force: true });
  }

  private async clearTemporaries(): Promise<void> {
    const dir = join(this.options.dir, "tmp");
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      // Only what is clearly abandoned: another replica may be writing the rest.
      if (info && Date.now() - info.mtimeMs > 60 * 60 * 1000) await rm(path, { force: true });
    }
    for (const name of await readdir(this.options.dir)) {
      if (name.endsWith(".bin") && !(await exists(this.metadataPath(name.slice(0, -4))))) {
        await rm(join(this.options.dir, name), { force: true });
      }
    }
  }

  private dataPath(fileId: string): string {
    return join(this.options.dir, `${fileId}.bin`);
  }

  private metadataPath(fileId: string): string {
    return join(this.options.dir, `${fileId}.json`);
  }
}

/** Writes a new file and flushes it to disk. */
async function writeDurably(path: string, content: string): Promise<void> {
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A display name: the last path segment, without control characters, never empty. */
function cleanFilename(filename: string): string {
  const name = [...basename(filename.replaceAll("\\", "/"))]
    .filter((character) => character.charCodeAt(0) >= 0x20 && character !== "\u007f")
    .join("")
    .slice(0, 255);
  return name === "" || name === "." || name === ".." ? "file" : name;
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB` : `${bytes} bytes`;
}
