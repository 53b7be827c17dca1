export * from "./converse.js";
export * from "./deadlines.js";
export * from "./driver.js";
export * from "./kill-by-marker.js";
export * from "./limits.js";
export * from "./reap-verdict.js";
export * from "./runner-channel.js";
export * from "./sandbox-engine.js";
