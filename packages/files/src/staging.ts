import {
  CodeInterpreterError,
  type FileInput,
  FileNotFoundError,
  InvalidRequestError,
  PayloadTooLargeError,
  type SkippedFile,
  type WorkspaceFile,
  type WorkspaceFileContent,
} from "@code-interpreter/core";
import { validateWorkspacePath } from "@code-interpreter/core/workspace";
import type { FileAccess, FileSource, FileStore } from "./file-store.js";

/**
 * Turns `[{path, file_id}]` into the files to stage: paths validated (422),
 * each id looked up among the files `access` may see (404 naming the id and the path).
 */
export async function resolveFileInputs(
  store: FileStore,
  inputs: readonly FileInput[],
  access: FileAccess,
): Promise<WorkspaceFileContent[]> {
  const seen = new Set<string>();
  const paths = inputs.map((input) => {
    const path = validateWorkspacePath(input.path);
    if (seen.has(path)) throw new InvalidRequestError({ message: `File path ${JSON.stringify(path)} is given more than once` });
    seen.add(path);
    return path;
  });
  return Promise.all(
    inputs.map(async (input, index) => {
      try {
        return { path: paths[index] as string, content: await store.read(input.file_id, access) };
      } catch (error) {
        if (!FileNotFoundError.isInstance(error)) throw error;
        throw new FileNotFoundError({
          message: `File ${JSON.stringify(input.file_id)} for path ${JSON.stringify(input.path)} not found`,
          cause: error,
        });
      }
    }),
  );
}

/** What an execution's outputs became: the files saved, and those left out with the reason. */
export interface SavedOutputs {
  files: WorkspaceFile[];
  skipped_files: SkippedFile[];
}

/**
 * Saves the files an execution made or changed (for `owner`). A file the store
 * does not keep (too large, storage full, the store failing) is left out and
 * listed in `skipped_files` with the reason (after `skipped`, what the sandbox
 * already left out), so the execution's output is never lost for a file.
 */
export async function saveOutputs(
  store: FileStore,
  files: readonly WorkspaceFileContent[],
  owner: FileAccess,
  skipped: readonly SkippedFile[] = [],
): Promise<SavedOutputs> {
  return new OutputSaver(store, owner).finish(files, skipped);
}

/**
 * Saves an execution's outputs as they arrive (its `onFile`), one file at a
 * time and each as its bytes come, with saveOutputs' rules: neither the
 * snapshot nor any file in it is held whole. `finish` also saves what came in
 * the result (a backend that does not stream) and lists them all by path;
 * `discard` deletes what was saved, for an execution that failed or was
 * abandoned, including a save still under way.
 */
export class OutputSaver {
  private readonly saved: { path: string; fileId: string }[] = [];
  private readonly skipped: SkippedFile[] = [];
  private discarded = false;

  constructor(
    private readonly store: FileStore,
    private readonly owner: FileAccess,
  ) {}

  /**
   * Saves one output, whole or as its bytes arrive (a snapshot's
   * WorkspaceFileStream); never throws: a file the store refuses is listed as skipped.
   */
  readonly save = async (file: { path: string; content: FileSource }): Promise<void> => {
    if (this.discarded) return;
    try {
      const metadata = await this.store.save(file.content, file.path, this.owner);
      const saved = { path: file.path, fileId: metadata.file_id };
      if (this.discarded) await this.remove(saved);
      else this.saved.push(saved);
    } catch (error) {
      // The code has run: its output matters more than one file the store would not take.
      this.skipped.push({ path: file.path, reason: whyNotSaved(error) });
    }
  };

  /** Saves `files` too, and lists everything saved by path, after `skipped` (what the sandbox left out). */
  async finish(files: readonly WorkspaceFileContent[] = [], skipped: readonly SkippedFile[] = []): Promise<SavedOutputs> {
    for (const file of files) await this.save(file);
    const saved = [...this.saved].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return {
      files: saved.map(({ path, fileId }) => ({ path, kind: "file", file_id: fileId })),
      skipped_files: [...skipped, ...this.skipped],
    };
  }

  /** Deletes what was saved; a save that completes later deletes its file at once. */
  async discard(): Promise<void> {
    this.discarded = true;
    const saved = this.saved.splice(0);
    await Promise.all(saved.map((file) => this.remove(file)));
  }

  private async remove(file: { fileId: string }): Promise<void> {
    // Gone already (expired, deleted) is as good as deleted.
    await this.store.delete(file.fileId, this.owner).catch(() => {});
  }
}

/** Why the store did not keep a file, in words fit for the client (a system error's text names paths). */
function whyNotSaved(error: unknown): string {
  if (PayloadTooLargeError.isInstance(error)) return error.message;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return `the server's file storage is full (${code})`;
  if (CodeInterpreterError.isInstance(error)) return `the file store could not keep it: ${error.message}`;
  return "the file store could not keep it";
}

/** Saves the files an execution made or changed (for `owner`), returning them as the API lists them; see saveOutputs. */
export async function saveOutputFiles(
  store: FileStore,
  files: readonly WorkspaceFileContent[],
  owner: FileAccess,
): Promise<WorkspaceFile[]> {
  return (await saveOutputs(store, files, owner)).files;
}
