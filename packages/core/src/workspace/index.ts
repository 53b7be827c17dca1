// The sandbox's /workspace as files: paths checked, trees packed and unpacked,
// and directory trees removed however the code shaped them.
export * from "./tree-remover.js";
export * from "./workspace-path.js";
export * from "./workspace-tar.js";
