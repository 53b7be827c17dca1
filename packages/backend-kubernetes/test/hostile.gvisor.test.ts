import { gvisorSections } from "@code-interpreter/core/testing";
import { describe, it } from "vitest";
import { describeHostileOnDouble } from "./hostile-on-double.js";
import { GVISOR_HOSTILE_ASSUMES, GVISOR_HOSTILE_GAPS, GVISOR_POD_PIDS_LIMIT, gvisorAvailable } from "./support.js";

// The hostile suite with the backend built for gVisor: its pods name deploy/runtimeclass.yaml's RuntimeClass,
// which the double runs under Docker's runsc runtime (ptrace platform), as a node with gVisor would. Where gVisor
// changes an answer, GVISOR_HOSTILE_GAPS and GVISOR_HOSTILE_ASSUMES say why (and the README lists them).
// CI runs the subset below; GVISOR_SUITE=full runs every section.
if (await gvisorAvailable()) {
  await describeHostileOnDouble({
    name: "kubernetes (gVisor pods)",
    runtime: "docker",
    sandboxRuntime: "gvisor",
    podPidsLimit: GVISOR_POD_PIDS_LIMIT,
    gaps: GVISOR_HOSTILE_GAPS,
    assumes: GVISOR_HOSTILE_ASSUMES,
    sections: gvisorSections(["files"]),
    // 100,000 small files through gVisor's ptrace platform: about a minute on a quiet machine, more under load.
    syscallSlowdown: 3,
  });
} else {
  describe.skip("kubernetes backend against hostile code under gVisor (no Docker engine with runsc, or no executor image, for the double)", () => {
    it("runs against the Kubernetes API double with pods under runsc", () => {});
  });
}
