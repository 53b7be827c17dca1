import {
  type FileInput,
  FileNotFoundError,
  InvalidRequestError,
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
  access: FileAccess = {},
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

/** Saves the files an execution made or changed (for `owner`), returning them as the API lists them. */
export async function saveOutputFiles(
  store: FileStore,
  files: readonly WorkspaceFileContent[],
  owner: FileAccess = {},
): Promise<WorkspaceFile[]> {
  const saved: WorkspaceFile[] = [];
  for (const file of files) {
    const metadata = await store.save(file.content, file.path, owner);
    saved.push({ path: file.path, kind: "file", file_id: metadata.file_id });
  }
  return saved;
}
