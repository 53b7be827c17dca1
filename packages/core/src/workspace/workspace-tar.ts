import tar from "tar-stream";
import { InvalidRequestError } from "../errors.js";
import { validateWorkspacePath } from "./workspace-path.js";

/** A file as it is, or is to be, in a sandbox workspace. */
export interface WorkspaceFileContent {
  /** Path relative to `/workspace`, validated. */
  path: string;
  content: Buffer;
}

/** Packs files into an uncompressed tar (regular files, mode 0644, parents implied). */
export async function packWorkspace(files: readonly WorkspaceFileContent[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (chunk) => chunks.push(chunk as Buffer));
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const file of files) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ name: file.path, size: file.content.length, mode: 0o644, type: "file", mtime: new Date(0) }, file.content, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A file of a snapshot as it arrives: its size from the archive, its bytes as they come. */
export interface WorkspaceFileStream {
  /** Path relative to `/workspace`, validated. */
  path: string;
  size: number;
  /** Its bytes, to be read at most once; what is left unread when the taker settles is skipped. */
  content: AsyncIterable<Buffer>;
}

/**
 * Takes a snapshot's files one at a time, as they are unpacked: the next file
 * is read only once the promise it returns settles, and a file's bytes only as
 * it reads them, so a slow taker (a file store) holds the sandbox's output
 * back instead of letting it pile up here. A taker that throws makes the whole
 * snapshot fail.
 */
export type WorkspaceFileSink = (file: WorkspaceFileStream) => Promise<void> | void;

export interface UnpackOptions {
  /** Refuse archives whose files add up to more than this. */
  maxBytes?: number;
  /** Hand each file here instead of collecting them: `finish` then returns none, and no file is held whole. */
  onFile?: WorkspaceFileSink;
}

/** Archive bytes read ahead of what the taker has read before `write` asks the caller to wait. */
const READ_AHEAD_BYTES = 1024 * 1024;

/** All of a file's bytes in one buffer (for a taker that wants them whole). */
export async function readContent(content: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A buffer as a file's content to hand a taker. */
export async function* contentOf(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}

/**
 * Reads the regular files out of a workspace tar. Symlinks, hardlinks, fifos,
 * devices and directories are skipped, never followed; a path that would leave
 * the workspace makes the whole archive invalid.
 */
export async function unpackWorkspace(archive: Buffer, options: UnpackOptions = {}): Promise<WorkspaceFileContent[]> {
  const unpacker = new WorkspaceUnpacker(options);
  unpacker.write(archive);
  return unpacker.finish();
}

/** The archive entry streams this reads: tar-stream's (streamx) Readable, as far as it is used here. */
interface EntryStream {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * An entry's bytes for a taker, read as it asks for them (a few chunks
 * ahead). Stopping early never destroys the entry (that would end the whole
 * archive): `skipRest` reads past what is left.
 */
class EntryContent implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private skipping = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly done: Promise<void>;

  constructor(private readonly stream: EntryStream) {
    this.done = new Promise((resolve) => {
      stream.on("end", () => {
        this.ended = true;
        this.signal();
        resolve();
      });
      stream.on("error", (error) => {
        this.failure = error;
        this.signal();
        resolve();
      });
    });
    stream.on("data", (chunk) => {
      if (this.skipping) return;
      this.chunks.push(chunk);
      if (this.chunks.length >= 4) stream.pause();
      this.signal();
    });
    stream.pause();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        yield chunk;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended || this.skipping) return;
      const arrived = new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.stream.resume();
      await arrived;
    }
  }

  /** Reads the rest of the entry without keeping it; resolves at its end. */
  skipRest(): Promise<void> {
    this.skipping = true;
    this.chunks.length = 0;
    this.signal();
    this.stream.resume();
    return this.done;
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * Reads a workspace tar as it arrives, file by file, with the same rules as
 * unpackWorkspace: the archive itself is never held whole, and each file owns
 * its bytes (none keeps a larger buffer alive). With `onFile`, no file is
 * held whole and at most READ_AHEAD_BYTES of the archive wait, as long as the
 * caller waits (`whenDrained`) each time `write` returns false.
 */
export class WorkspaceUnpacker {
  private readonly extract = tar.extract({ highWaterMark: READ_AHEAD_BYTES } as never);
  private readonly files: WorkspaceFileContent[] = [];
  private readonly done: Promise<void>;
  private readonly maxBytes: number;
  private total = 0;
  private written = false;
  private failure: Error | undefined;

  constructor(private readonly options: UnpackOptions = {}) {
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.done = new Promise<void>((resolve) => {
      this.extract.on("entry", (header, stream, next) => {
        stream.on("error", (error: Error) => this.fail(error));
        if (header.type !== "file") {
          stream.on("end", () => next());
          stream.resume();
          return;
        }
        let path: string;
        const size = header.size ?? 0;
        try {
          path = validateSnapshotPath(header.name);
          this.total += size;
          // Checked before any byte of it: a taker is never handed a file of a snapshot that will be refused.
          if (this.total > this.maxBytes) {
            throw new InvalidRequestError({ message: `workspace snapshot is larger than ${this.maxBytes} bytes` });
          }
        } catch (error) {
          this.fail(error as Error);
          return;
        }
        const onFile = this.options.onFile;
        if (!onFile) {
          const chunks: Buffer[] = [];
          stream.on("data", (chunk) => chunks.push(chunk as Buffer));
          stream.on("end", () => {
            this.files.push({ path, content: Buffer.concat(chunks) });
            next();
          });
          return;
        }
        const content = new EntryContent(stream as unknown as EntryStream);
        Promise.resolve()
          .then(() => onFile({ path, size, content }))
          .then(() => content.skipRest())
          .then(
            () => next(),
            (error: Error) => this.fail(error),
          );
      });
      this.extract.on("finish", resolve);
      this.extract.on("close", resolve);
      this.extract.on("error", (error: Error) => {
        this.failure ??= error;
        resolve();
      });
    });
  }

  /** Feeds the next bytes of the archive; false when the caller should wait for `whenDrained` before the next. */
  write(chunk: Buffer): boolean {
    if (this.failure) return true;
    this.written = true;
    return this.extract.write(chunk);
  }

  /** Resolves once what was written has been taken in (or the archive has failed): time for more. */
  whenDrained(): Promise<void> {
    if (this.failure || this.extract.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const settle = () => {
        this.extract.off("drain", settle);
        this.extract.off("close", settle);
        resolve();
      };
      this.extract.on("drain", settle);
      this.extract.on("close", settle);
    });
  }

  /** The files (none with `onFile`), once the archive has ended; throws for an invalid archive or one over `maxBytes`. */
  async finish(): Promise<WorkspaceFileContent[]> {
    if (!this.written) return [];
    // streamx's typings want an argument that Node's end() does not.
    (this.extract as unknown as { end(): void }).end();
    await this.done;
    if (this.failure) throw this.failure;
    return this.files;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.extract.destroy(error);
  }
}

function validateSnapshotPath(name: string): string {
  // __main__.py may come back from a snapshot; only staging refuses it.
  const stripped = name.replace(/^\.\//, "");
  if (stripped === "__main__.py") return stripped;
  return validateWorkspacePath(stripped);
}

/** Files of `after` that are new or differ from `before` (unchanged inputs are left out), sorted by path. */
export function changedFiles(before: readonly WorkspaceFileContent[], after: readonly WorkspaceFileContent[]): WorkspaceFileContent[] {
  const original = new Map(before.map((file) => [file.path, file.content]));
  return after
    .filter((file) => {
      const previous = original.get(file.path);
      return previous === undefined || !previous.equals(file.content);
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
