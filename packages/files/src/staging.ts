import {
  CodeInterpreterError,
  type FileInput,
  FileNotFoundError,
  InvalidRequestError,
  PayloadTooLargeError,
  type SkippedFile,
  validateWorkspacePath,
  type WorkspaceFile,
  type WorkspaceFileContent,
} from "@code-interpreter/core";
import type { FileAccess, FileStore } from "./file-store.js";

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
  const saved: SavedOutputs = { files: [], skipped_files: [...skipped] };
  for (const file of files) {
    try {
      const metadata = await store.save(file.content, file.path, owner);
      saved.files.push({ path: file.path, kind: "file", file_id: metadata.file_id });
    } catch (error) {
      // The code has run: its output matters more than one file the store would not take.
      saved.skipped_files.push({ path: file.path, reason: whyNotSaved(error) });
    }
  }
  return saved;
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
