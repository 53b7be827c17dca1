import type { Backend, CommandResult } from "@code-interpreter/core";
import { currentInterface } from "./interface.js";
import type { Metrics } from "./metrics.js";

/**
 * The backend, with its executions and session commands counted and timed in
 * `metrics`, labelled with the interface (HTTP or MCP) they came through. Everything else passes straight through.
 */
export function instrumentBackend(backend: Backend, metrics: Metrics): Backend {
  const timed = async <T extends CommandResult>(
    kind: "execute" | "bash" | "python" | "javascript",
    signal: AbortSignal | undefined,
    run: () => Promise<T>,
  ): Promise<T> => {
    const started = performance.now();
    const api = currentInterface();
    let result: T | undefined;
    try {
      result = await run();
      return result;
    } catch (error) {
      // A backend stopped by an abort throws the signal's reason, which may be a string (the HTTP
      // server's "Client connection prematurely closed."): the app's error handler only sees Errors.
      throw error instanceof Error ? error : new Error(String(error), { cause: error });
    } finally {
      metrics.observeExecution(kind, result, (performance.now() - started) / 1000, api, signal?.aborted === true);
      if (result?.sandboxWaitMs !== undefined) metrics.observeSandboxStart(result.sandboxWaitMs / 1000);
    }
  };
  const overrides: Partial<Backend> = {
    execute: (options) => timed("execute", options.signal, () => backend.execute(options)),
    runInSession: (options) => timed(options.language, options.signal, () => backend.runInSession(options)),
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
