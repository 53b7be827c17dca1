// What every backend's sandboxes share: their settings and defaults, the
// declared software environment, and the names and labels that mark them ours.
export * from "./environment.js";
export * from "./names.js";
export * from "./runtimes.js";
export * from "./sandbox-settings.js";
