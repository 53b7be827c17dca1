import { describeHostileSuite, HOSTILE_SETTINGS, type SuiteSections } from "@code-interpreter/core/testing";
import { afterAll } from "vitest";
import { LOCALHOST_SECCOMP_PROFILE } from "../src/index.js";
import {
  applyRuntimeClass,
  createTestBackend,
  GVISOR_START_TIMEOUT_MS,
  leftovers,
  SECCOMP_ROOT,
  startDouble,
  stopDouble,
} from "./support.js";

/**
 * The hostile suite against the Kubernetes backend, through a double whose pods
 * run on `runtime`, with the Localhost seccomp profile deploy/ ships; `gaps`
 * and `assumes` say what that runtime cannot show. With `sandboxRuntime: "gvisor"` the backend names
 * deploy/runtimeclass.yaml's RuntimeClass and the double runs its pods under Docker's runsc (with
 * `--oci-seccomp`, so the profile holds there too); `podPidsLimit` then counts runsc's own threads
 * too, as a node's pod cgroup does.
 */
export async function describeHostileOnDouble(options: {
  name: string;
  runtime: "docker" | "process";
  gaps: Record<string, string>;
  assumes: Record<string, string>;
  sandboxRuntime?: "default" | "gvisor";
  podPidsLimit?: number;
  sections?: SuiteSections;
  syscallSlowdown?: number;
}): Promise<void> {
  const gvisor = options.sandboxRuntime === "gvisor";
  // podPidsLimit is the kubelet setting the README asks nodes that run sandboxes to have.
  const double = await startDouble({
    runtime: options.runtime,
    podPidsLimit: options.podPidsLimit ?? HOSTILE_SETTINGS.maxProcesses,
    seccompProfileRoot: SECCOMP_ROOT,
  });
  afterAll(() => stopDouble(double));
  if (gvisor) await applyRuntimeClass(double);
  describeHostileSuite({
    name: options.name,
    createBackend: (settings) =>
      createTestBackend(double, {
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
        workspaceSizeMb: settings.workspaceSizeMb,
        // RLIMIT_NPROC under gVisor (its kernel counts it per pod); the default runtime leaves processes to podPidsLimit.
        maxProcesses: settings.maxProcesses,
        // Warm pods take the production path (code sent to a preloaded runner) without the data stack's start-up cost.
        pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        sessionPool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json"],
        // As deploy/README.md asks: the sandbox's own profile, installed on the nodes, not the runtime's default
        // (gVisor pods get its gVisor variant, code-interpreter-gvisor.json).
        seccompProfile: { type: "Localhost", localhostProfile: LOCALHOST_SECCOMP_PROFILE },
        ...(gvisor ? { sandboxRuntime: "gvisor", podStartTimeoutMs: GVISOR_START_TIMEOUT_MS } : {}),
      }),
    listLeftovers: () => leftovers(double),
    sameHost: true,
    gaps: options.gaps,
    assumes: options.assumes,
    ...(options.sections ? { sections: options.sections } : {}),
    ...(options.syscallSlowdown ? { syscallSlowdown: options.syscallSlowdown } : {}),
  });
}
