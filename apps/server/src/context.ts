import type { Backend } from "@code-interpreter/core";
import type { FileStore } from "@code-interpreter/files";
import type { KeyRing } from "./auth/key-ring.js";
import type { Tenancy } from "./auth/tenancy.js";
import type { Config } from "./config.js";
import type { ExecutionSlots } from "./execution-slots.js";
import type { Executions } from "./executions/executions.js";
import type { ConcurrencyLimit } from "./middleware/concurrency-limit.js";
import type { Logger } from "./observability/logger.js";
import type { Metrics } from "./observability/metrics.js";
import type { RuntimeOffer } from "./runtime-router.js";

/** What the egress proxy offers requests (the server made one: EGRESS_ALLOW is not none). */
export interface EgressOffer {
  /** The secrets a request may name (never their values), and the tenants each is for when not every tenant's. */
  secrets: readonly { name: string; tenants?: readonly string[] }[];
}

/** What every route needs; built once by createApp. */
export interface ServerContext {
  backend: Backend;
  store: FileStore;
  config: Config;
  logger: Logger;
  limit: ConcurrencyLimit;
  /** The one place executions take their slot (server and tenant limits). */
  slots: ExecutionSlots;
  /** Background and resumable executions. */
  executions: Executions;
  metrics: Metrics;
  tenancy: Tenancy;
  keys: KeyRing;
  /** The sandbox runtimes requests may ask for, and the default. */
  runtimes: RuntimeOffer;
  /** Network egress, when the server has an egress proxy. */
  egress?: EgressOffer;
  version: string;
}
