// The sandbox engine every backend runs on, and the driver interface a backend implements.
export * from "./deadlines.js";
export * from "./driver.js";
export * from "./exchange.js";
export * from "./exchange-outcome.js";
export * from "./execution-plan.js";
export * from "./keyed-queue.js";
export * from "./kill-by-marker.js";
export * from "./limits.js";
export * from "./persistent-runner.js";
export * from "./reap-verdict.js";
export * from "./sandbox-engine.js";
export * from "./session-lifecycle.js";
export * from "./session-runners.js";
export * from "./session-snapshots.js";
export * from "./snapshot-admission.js";
export * from "./warm-pool.js";
export * from "./warm-session-init.js";
