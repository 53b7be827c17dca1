// `@code-interpreter/backend-local/bwrap`: the bubblewrap root view and user files, for other
// sandboxes that must see what backend-local's see (the Kubernetes double's process pods). Nothing
// here imports more than node:fs.
export { bwrapRootArgs, groupFile, passwdFile } from "./bwrap-root.js";
