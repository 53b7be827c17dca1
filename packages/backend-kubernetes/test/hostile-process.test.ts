import { describe, it } from "vitest";
import { describeHostileOnDouble } from "./hostile-on-double.js";
import { bwrapAvailable, HOSTILE_PROCESS_ASSUMES, HOSTILE_PROCESS_GAPS } from "./support.js";

// The hostile suite with the double running pods as bubblewrap sandboxes on this host: it shows
// the backend's own controls (output, timeouts, process cleanup, snapshots) on a second runtime;
// the isolation that counts for a cluster is the Docker pods' (hostile.test.ts).
if (bwrapAvailable()) {
  await describeHostileOnDouble({
    name: "kubernetes (process pods)",
    runtime: "process",
    gaps: HOSTILE_PROCESS_GAPS,
    assumes: HOSTILE_PROCESS_ASSUMES,
  });
} else {
  describe.skip("kubernetes backend against hostile code on process pods (no bubblewrap or /usr/bin/python3)", () => {
    it("runs against the Kubernetes API double with pods as bubblewrap sandboxes", () => {});
  });
}
