import type { Backend, CommandResult } from "@code-interpreter/core";
import { ALL_TENANTS, type FileStore } from "@code-interpreter/files";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { ApiInterface } from "./interface.js";

/**
 * How an execution ended, as counted by `code_interpreter_executions_total`:
 * exit status 0, another exit status, killed at its timeout, not run to the
 * end because the service failed (backend unreachable, out of capacity, ...),
 * or stopped because its client hung up (not a failure of the service).
 */
export type ExecutionOutcome = "ok" | "error" | "timeout" | "failed" | "aborted";

/** Seconds: from a warm sandbox's few milliseconds to a stalled cell's full timeout. */
const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface Metrics {
  registry: Registry;
  /** Counts and times one execution or session command, made through `api` (the HTTP API or MCP). */
  /** `clientGone`: the caller hung up, so a missing result is `aborted`, not `failed`. */
  observeExecution(
    kind: "execute" | "bash" | "python" | "javascript",
    result: CommandResult | undefined,
    seconds: number,
    api?: ApiInterface,
    clientGone?: boolean,
  ): void;
  observeSandboxStart(seconds: number): void;
  observeReaped(count: number): void;
  /** Counts one connection the code tried through the egress proxy, by tenant ("" when none) and whether it was allowed. */
  observeEgressAttempt(tenant: string | undefined, allowed: boolean): void;
}

/**
 * The server's Prometheus metrics, on a registry of its own so two servers in
 * one process (tests) do not collide. Gauges that describe resources (live
 * sessions, stored bytes) are read from the resources when scraped, because
 * state lives there and not in this process.
 */
export function createMetrics(options: { backend: Backend; store: FileStore }): Metrics {
  const registry = new Registry();
  // The process's own memory, open file descriptors and event-loop lag: what a soak watches stay flat.
  collectDefaultMetrics({ register: registry, prefix: "code_interpreter_" });
  const backend = options.backend.name;
  const executions = new Counter({
    name: "code_interpreter_executions_total",
    help: "Executions and session commands, by backend, kind, outcome (ok, error, timeout, failed, aborted by the client) and interface (http, mcp).",
    labelNames: ["backend", "kind", "outcome", "interface"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "code_interpreter_execution_duration_seconds",
    help: "Wall-clock time of executions and session commands, including sandbox start, by interface (http, mcp).",
    labelNames: ["backend", "kind", "interface"] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const sandboxStart = new Histogram({
    name: "code_interpreter_sandbox_start_duration_seconds",
    help: "Time an execution waited for its sandbox to be ready (near zero when a warm one was taken).",
    labelNames: ["backend"] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const reaped = new Counter({
    name: "code_interpreter_reaped_sessions_total",
    help: "Expired sessions removed by the reaper.",
    labelNames: ["backend"] as const,
    registers: [registry],
  });
  const egress = new Counter({
    name: "code_interpreter_egress_connections_total",
    help: "Connections code tried through the egress proxy, by tenant (empty without API keys) and whether they were allowed.",
    labelNames: ["backend", "tenant", "allowed"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "code_interpreter_active_sessions",
    help: "Live sessions the backend knows of (read from the sandboxes when scraped).",
    labelNames: ["backend"] as const,
    registers: [registry],
    async collect() {
      const sessions = options.backend.capabilities.sessions ? await options.backend.listSessions().catch(() => undefined) : [];
      if (sessions) this.set({ backend }, sessions.length);
    },
  });
  new Gauge({
    name: "code_interpreter_file_store_bytes",
    help: "Bytes held by the file store.",
    registers: [registry],
    async collect() {
      const bytes = await options.store.totalBytes(ALL_TENANTS).catch(() => undefined);
      if (bytes !== undefined) this.set(bytes);
    },
  });

  return {
    registry,
    observeExecution(kind, result, seconds, api = "http", clientGone = false) {
      const outcome: ExecutionOutcome = !result
        ? clientGone
          ? "aborted"
          : "failed"
        : result.timedOut
          ? "timeout"
          : result.exitCode === 0
            ? "ok"
            : "error";
      executions.inc({ backend, kind, outcome, interface: api });
      duration.observe({ backend, kind, interface: api }, seconds);
    },
    observeSandboxStart: (seconds) => sandboxStart.observe({ backend }, seconds),
    observeReaped: (count) => reaped.inc({ backend }, count),
    observeEgressAttempt: (tenant, allowed) => egress.inc({ backend, tenant: tenant ?? "", allowed: String(allowed) }),
  };
}
