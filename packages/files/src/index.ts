export { DirectoryFileStore, type DirectoryFileStoreOptions } from "./directory-file-store.js";
export {
  ALL_TENANTS,
  type FileAccess,
  type FileSource,
  type FileStoreHealth,
  type FileStoreLimits,
  type StoredFile,
} from "./file-store.js";
export { FileStore, type OpenFileStoreOptions, openFileStore } from "./open-file-store.js";
export { createS3Client, S3FileStore, type S3FileStoreOptions } from "./s3-file-store.js";
export { OutputSaver, resolveFileInputs, type SavedOutputs, saveOutputFiles, saveOutputs } from "./staging.js";
