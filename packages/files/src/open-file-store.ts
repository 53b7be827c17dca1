import { DirectoryFileStore, type DirectoryFileStoreOptions } from "./directory-file-store.js";
import type { FileStore as FileStoreInterface } from "./file-store.js";
import { S3FileStore, type S3FileStoreOptions } from "./s3-file-store.js";

/** Which store to open, and its settings. */
export type OpenFileStoreOptions = ({ kind: "dir" } & DirectoryFileStoreOptions) | ({ kind: "s3" } & S3FileStoreOptions);

/**
 * Opens the store the options name: the one entry point for the server and
 * the CLI. Opening an S3 store makes no request; call `health()` to learn
 * whether it answers.
 */
export async function openFileStore(options: OpenFileStoreOptions): Promise<FileStoreInterface> {
  if (options.kind === "s3") {
    const { kind: _, ...settings } = options;
    return new S3FileStore(settings);
  }
  const { kind: _, ...settings } = options;
  return DirectoryFileStore.open(settings);
}

/** A file store: see the interface in file-store.ts. */
export type FileStore = FileStoreInterface;

/**
 * @deprecated Use `openFileStore({ kind: "dir", … })` or `DirectoryFileStore.open`.
 * Kept so that `FileStore.open({ dir, maxFileBytes, ttlSeconds })` still opens a directory store.
 */
export const FileStore = {
  open: (options: DirectoryFileStoreOptions): Promise<DirectoryFileStore> => DirectoryFileStore.open(options),
};
