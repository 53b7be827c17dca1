import tar from "tar-stream";
import { InvalidRequestError } from "./errors.js";
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

/**
 * Takes a snapshot's files one at a time, as they are unpacked: the next file
 * is read only once the promise it returns settles, so a slow taker (a file
 * store) holds the sandbox's output back instead of letting it pile up here.
 * A taker that throws makes the whole snapshot fail.
 */
export type WorkspaceFileSink = (file: WorkspaceFileContent) => Promise<void> | void;

export interface UnpackOptions {
  /** Refuse archives whose files add up to more than this. */
  maxBytes?: number;
  /** Hand each file here instead of collecting them: `finish` then returns none, and at most one file is held. */
  onFile?: WorkspaceFileSink;
}

/** Archive bytes read ahead of the file being unpacked before `write` asks the caller to wait. */
const READ_AHEAD_BYTES = 1024 * 1024;

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

/**
 * Reads a workspace tar as it arrives, file by file, with the same rules as
 * unpackWorkspace: the archive itself is never held whole, and each file owns
 * its bytes (none keeps a larger buffer alive). With `onFile`, no more than
 * one file and READ_AHEAD_BYTES of the archive are held, as long as the
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
        const chunks: Buffer[] = [];
        stream.on("data", (chunk) => {
          if (header.type === "file") chunks.push(chunk as Buffer);
        });
        stream.on("end", () => {
          if (header.type !== "file") return next();
          let file: WorkspaceFileContent;
          try {
            file = { path: validateSnapshotPath(header.name), content: Buffer.concat(chunks) };
            this.total += file.content.length;
            // Checked as it grows: a taker is never handed a file of a snapshot that will be refused.
            if (this.total > this.maxBytes) {
              throw new InvalidRequestError({ message: `workspace snapshot is larger than ${this.maxBytes} bytes` });
            }
          } catch (error) {
            this.fail(error as Error);
            return;
          }
          if (!this.options.onFile) {
            this.files.push(file);
            return next();
          }
          Promise.resolve()
            .then(() => this.options.onFile?.(file))
            .then(
              () => next(),
              (error: Error) => this.fail(error),
            );
        });
        stream.on("error", (error: Error) => this.fail(error));
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
