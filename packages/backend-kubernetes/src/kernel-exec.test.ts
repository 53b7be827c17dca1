import { describe, expect, it } from "vitest";
import { describeExecStatus, describePod } from "./kernel-exec.js";

// What a session command's 503 says when its runner's exec ended mid-command: the exec's status (channel 3) and
// the pod's state, which the Kubernetes double cannot be made to produce on demand.
describe("how a runner's exec ended, in words", () => {
  it("reads the exit code from the exec's status, or says there was none", () => {
    expect(describeExecStatus({ status: "Success" })).toBe("exec exit 0");
    expect(
      describeExecStatus({
        status: "Failure",
        reason: "NonZeroExitCode",
        details: { causes: [{ reason: "ExitCode", message: "137" }] },
      }),
    ).toBe("exec exit 137");
    expect(describeExecStatus(undefined)).toMatch(/^no exec status/);
  });

  it("gives the pod's phase and its executor container's state", () => {
    expect(
      describePod({
        metadata: { deletionTimestamp: new Date("2026-12-07T08:00:00Z") },
        status: { phase: "Running", containerStatuses: [{ name: "executor", state: { running: {} } } as never] },
      }),
    ).toBe("pod Running, being deleted, executor running");
    expect(describePod(undefined)).toBe("pod gone");
  });
});
