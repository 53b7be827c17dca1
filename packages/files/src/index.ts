export { DirectoryFileStore, type DirectoryFileStoreOptions } from "./directory-file-store.js";
export { DirectoryRecordStore } from "./directory-record-store.js";
export {
  ALL_TENANTS,
  type FileAccess,
  type FileSource,
  type FileStoreHealth,
  type FileStoreLimits,
  type StoredFile,
} from "./file-store.js";
export { FileStore, type OpenFileStoreOptions, openFileStore } from "./open-file-store.js";
export { assertRecordName, type RecordOptions, type RecordStore } from "./record-store.js";
export { createS3Client, S3FileStore, type S3FileStoreOptions } from "./s3-file-store.js";
export { S3RecordStore } from "./s3-record-store.js";
export { OutputSaver, resolveFileInputs, type SavedOutputs, saveOutputFiles, saveOutputs } from "./staging.js";
