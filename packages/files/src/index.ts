export { type FileAccess, FileStore, type FileStoreOptions, type StoredFile } from "./file-store.js";
export { resolveFileInputs, saveOutputFiles } from "./staging.js";
