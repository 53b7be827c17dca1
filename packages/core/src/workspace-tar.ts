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

export interface UnpackOptions {
  /** Refuse archives whose files add up to more than this. */
  maxBytes?: number;
}

/**
 * Reads the regular files out of a workspace tar. Symlinks, hardlinks, fifos,
 * devices and directories are skipped, never followed; a path that would leave
 * the workspace makes the whole archive invalid.
 */
export async function unpackWorkspace(archive: Buffer, options: UnpackOptions = {}): Promise<WorkspaceFileContent[]> {
  const unpacker = new WorkspaceUnpacker();
  unpacker.write(archive);
  return unpacker.finish(options);
}

/**
 * Reads a workspace tar as it arrives, file by file, with the same rules as
 * unpackWorkspace: the archive itself is never held whole, and each file owns
 * its bytes (none keeps a larger buffer alive).
 */
export class WorkspaceUnpacker {
  private readonly extract = tar.extract();
  private readonly files: WorkspaceFileContent[] = [];
  private readonly done: Promise<void>;
  private total = 0;
  private written = false;
  private failure: Error | undefined;

  constructor() {
    this.done = new Promise<void>((resolve) => {
      this.extract.on("entry", (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk) => {
          if (header.type === "file") chunks.push(chunk as Buffer);
        });
        stream.on("end", () => {
          if (header.type === "file") {
            try {
              const content = Buffer.concat(chunks);
              this.total += content.length;
              this.files.push({ path: validateSnapshotPath(header.name), content });
            } catch (error) {
              this.fail(error as Error);
              return;
            }
          }
          next();
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

  /** Feeds the next bytes of the archive. */
  write(chunk: Buffer): void {
    if (this.failure) return;
    this.written = true;
    this.extract.write(chunk);
  }

  /** The files, once the archive has ended; throws for an invalid archive or one over `maxBytes`. */
  async finish(options: UnpackOptions = {}): Promise<WorkspaceFileContent[]> {
    if (!this.written) return [];
    // streamx's typings want an argument that Node's end() does not.
    (this.extract as unknown as { end(): void }).end();
    await this.done;
    if (this.failure) throw this.failure;
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (this.total > maxBytes) throw new InvalidRequestError({ message: `workspace snapshot is larger than ${maxBytes} bytes` });
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
