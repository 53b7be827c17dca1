import { describe, expect, it } from "vitest";
import { runnerLimits, sandboxLimits } from "./limits.js";

const limits = sandboxLimits({
  maxOutputBytes: 1024,
  memoryLimitMb: 512,
  cpuTimeLimitSec: 30,
  maxFileSizeMb: 100,
  workspaceSizeMb: 256,
  maxProcesses: 64,
});

describe("runner limits", () => {
  it("leave memory and processes to the cgroup where there is one", () => {
    expect(runnerLimits(limits, { cgroup: true })).not.toHaveProperty("processes");
    expect(runnerLimits(limits, { cgroup: true })).not.toHaveProperty("addressSpaceBytes");
  });

  it("set RLIMIT_NPROC but no address-space limit in a sandbox with its own kernel and a memory cgroup (gVisor)", () => {
    const set = runnerLimits(limits, { cgroup: true, processRlimit: true });
    expect(set.processes).toBe(64);
    expect(set).not.toHaveProperty("addressSpaceBytes");
  });

  it("set both without a cgroup", () => {
    expect(runnerLimits(limits, { cgroup: false })).toMatchObject({ processes: 64, addressSpaceBytes: 512 * 1024 * 1024 });
  });
});
