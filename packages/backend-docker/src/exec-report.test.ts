import { describe, expect, it } from "vitest";
import { describeExecEnd } from "./exec-report.js";

// The real case (a runner killed during a command, its container running) is in test/sessions.test.ts; these are
// the ones a test cannot make Docker produce on demand.
describe("describeExecEnd", () => {
  const running = { Status: "running", OOMKilled: false, ExitCode: 0, FinishedAt: "0001-01-01T00:00:00Z" };

  it("tells a broken connection (the exec still runs) from an exit", () => {
    expect(describeExecEnd({ Running: true, ExitCode: null }, running)).toBe(
      "its exec still runs (the connection to it broke); container running",
    );
    expect(describeExecEnd({ Running: false, ExitCode: 0 }, running)).toBe("exec exit 0; container running");
  });

  it("says when the container ended, how, and whether memory ran out", () => {
    const ended = { Status: "exited", OOMKilled: true, ExitCode: 137, FinishedAt: "2026-12-07T08:00:00Z" };
    expect(describeExecEnd(undefined, ended)).toBe(
      "its exec is gone; container exited (exit 137 (SIGKILL) at 2026-12-07T08:00:00Z), out of memory (OOMKilled)",
    );
    expect(describeExecEnd(undefined, undefined)).toBe("its exec is gone; container gone");
  });
});
