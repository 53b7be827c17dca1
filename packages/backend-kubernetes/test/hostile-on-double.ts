import { describeHostileSuite, HOSTILE_SETTINGS } from "@code-interpreter/core/testing";
import { afterAll } from "vitest";
import { createTestBackend, leftovers, startDouble, stopDouble } from "./support.js";

/**
 * The hostile suite against the Kubernetes backend, through a double whose pods
 * run on `runtime`; `gaps` and `assumes` say what that runtime cannot show.
 */
export async function describeHostileOnDouble(options: {
  name: string;
  runtime: "docker" | "process";
  gaps: Record<string, string>;
  assumes: Record<string, string>;
}): Promise<void> {
  // podPidsLimit is the kubelet setting the README asks nodes that run sandboxes to have.
  const double = await startDouble({ runtime: options.runtime, podPidsLimit: HOSTILE_SETTINGS.maxProcesses });
  afterAll(() => stopDouble(double));
  describeHostileSuite({
    name: options.name,
    createBackend: (settings) =>
      createTestBackend(double, {
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
        workspaceSizeMb: settings.workspaceSizeMb,
        // Warm pods take the production path (code sent to a preloaded runner) without the data stack's start-up cost.
        pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json"],
      }),
    listLeftovers: () => leftovers(double),
    sameHost: true,
    gaps: options.gaps,
    assumes: options.assumes,
  });
}
