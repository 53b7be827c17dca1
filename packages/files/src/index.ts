export { FileStore, type FileStoreOptions } from "./file-store.js";
export { resolveFileInputs, saveOutputFiles } from "./staging.js";
