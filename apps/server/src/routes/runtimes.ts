import type { SandboxRuntime } from "@code-interpreter/core/sandbox";
import type { ServerContext } from "../context.js";
import { notOffered } from "../runtime-router.js";

/** The runtime a request runs on: the one it names, if the server offers it (else 422 naming those it offers), or the default. */
export function requestedRuntime(server: ServerContext, runtime: SandboxRuntime | undefined): SandboxRuntime {
  if (runtime === undefined) return server.runtimes.defaultRuntime;
  if (!server.runtimes.runtimes.includes(runtime)) throw notOffered(runtime, server.runtimes);
  return runtime;
}
