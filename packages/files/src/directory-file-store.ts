import { randomUUID } from "node:crypto";
import { access, constants, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { FileNotFoundError } from "@code-interpreter/core";
import { DirectoryRecordStore } from "./directory-record-store.js";
import {
  cleanFilename,
  FILE_ID,
  type FileAccess,
  type FileSource,
  type FileStore,
  type FileStoreHealth,
  type FileStoreLimits,
  fileNotFound,
  fileTooLarge,
  isExpired,
  mayAccess,
  type StoredFile,
} from "./file-store.js";

/** Settings of a directory store. */
export interface DirectoryFileStoreOptions extends FileStoreLimits {
  /** Where files live; created if missing. @default FILE_STORAGE_DIR */
  dir: string;
}

/**
 * Files on the local filesystem: `<id>.bin` holds the bytes, `<id>.json` the
 * metadata. Both are written to a temporary name and renamed, data first, so a
 * file is either complete or absent; both are synced to disk, with the
 * directory, before save() returns, so an acknowledged upload survives a crash.
 * Replicas share it only through a shared filesystem; use S3FileStore otherwise.
 */
export class DirectoryFileStore implements FileStore {
  readonly kind = "dir";

  readonly records: DirectoryRecordStore;

  private constructor(readonly options: DirectoryFileStoreOptions) {
    this.records = new DirectoryRecordStore(options.dir);
  }

  get limits(): FileStoreLimits {
    return { maxFileBytes: this.options.maxFileBytes, ttlSeconds: this.options.ttlSeconds };
  }

  static async open(options: DirectoryFileStoreOptions): Promise<DirectoryFileStore> {
    await mkdir(join(options.dir, "tmp"), { recursive: true, mode: 0o700 });
    const store = new DirectoryFileStore(options);
    await store.records.open();
    await store.clearTemporaries();
    return store;
  }

  async save(source: FileSource, filename: string, owner: FileAccess): Promise<StoredFile> {
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
          throw fileTooLarge(this.options.maxFileBytes);
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

  async metadata(fileId: string, access: FileAccess): Promise<StoredFile> {
    if (!FILE_ID.test(fileId)) throw fileNotFound(fileId);
    let metadata: StoredFile;
    try {
      metadata = JSON.parse(await readFile(this.metadataPath(fileId), "utf8")) as StoredFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw fileNotFound(fileId);
      throw error;
    }
    if (isExpired(metadata.upload_time, this.options.ttlSeconds)) {
      await this.remove(fileId);
      throw fileNotFound(fileId);
    }
    if (!mayAccess(access, metadata.tenant)) throw fileNotFound(fileId);
    return metadata;
  }

  async read(fileId: string, access: FileAccess): Promise<Buffer> {
    await this.metadata(fileId, access);
    // Deleted since the metadata was read: still "not found", never a bare ENOENT (a 500).
    return readFile(this.dataPath(fileId)).catch((error) => {
      throw goneError(fileId, error);
    });
  }

  async stream(fileId: string, access: FileAccess): Promise<{ metadata: StoredFile; stream: Readable }> {
    const metadata = await this.metadata(fileId, access);
    // Opened before answering, so a file deleted meanwhile is a 404 rather than a broken download.
    const handle = await open(this.dataPath(fileId), "r").catch((error) => {
      throw goneError(fileId, error);
    });
    return { metadata, stream: handle.createReadStream() };
  }

  async list(access: FileAccess): Promise<StoredFile[]> {
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

  async delete(fileId: string, access: FileAccess): Promise<void> {
    await this.metadata(fileId, access);
    await this.remove(fileId);
  }

  async purgeExpired(): Promise<number> {
    let purged = 0;
    for (const name of await readdir(this.options.dir)) {
      if (!name.endsWith(".json")) continue;
      const fileId = name.slice(0, -".json".length);
      try {
        const metadata = JSON.parse(await readFile(this.metadataPath(fileId), "utf8")) as StoredFile;
        if (!isExpired(metadata.upload_time, this.options.ttlSeconds)) continue;
      } catch {
        // unreadable metadata: the file is unusable, remove it
      }
      await this.remove(fileId);
      purged++;
    }
    return purged + (await this.records.purgeExpired());
  }

  async totalBytes(access: FileAccess): Promise<number> {
    return (await this.list(access)).reduce((sum, file) => sum + file.size_bytes, 0);
  }

  async health(): Promise<FileStoreHealth> {
    try {
      await access(join(this.options.dir, "tmp"), constants.W_OK);
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: `FILE_STORAGE_DIR ${this.options.dir} is not writable: ${(error as Error).message}` };
    }
  }

  async close(): Promise<void> {}

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

function goneError(fileId: string, error: unknown): unknown {
  if ((error as NodeJS.ErrnoException).code !== "ENOENT") return error;
  return fileNotFound(fileId, error);
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
