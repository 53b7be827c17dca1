import type { Backend, CommandResult } from "@code-interpreter/core";
import { currentInterface } from "./interface.js";
import type { Metrics } from "./metrics.js";

/**
 * The backend, with its executions and session commands counted and timed in
 * `metrics`, labelled with the interface (HTTP or MCP) they came through. Everything else passes straight through.
 */
export function instrumentBackend(backend: Backend, metrics: Metrics): Backend {
  const timed = async <T extends CommandResult>(kind: "execute" | "bash" | "python", run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const api = currentInterface();
    let result: T | undefined;
    try {
      result = await run();
      return result;
    } finally {
      metrics.observeExecution(kind, result, (performance.now() - started) / 1000, api);
      if (result?.sandboxWaitMs !== undefined) metrics.observeSandboxStart(result.sandboxWaitMs / 1000);
    }
  };
  const overrides: Partial<Backend> = {
    execute: (options) => timed("execute", () => backend.execute(options)),
    runInSession: (options) => timed(options.language, () => backend.runInSession(options)),
  };
  return new Proxy(backend, {
    get(target, property) {
      if (property in overrides) return overrides[property as keyof Backend];
      const value = Reflect.get(target, property, target);
      // Methods run on the real backend, whose private state the proxy does not carry.
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
