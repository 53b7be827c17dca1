import { gvisorSections } from "@code-interpreter/core/testing";
import { describeKubernetesContract } from "./support.js";

// The shared contract suite with the backend built for gVisor (sandboxRuntime "gvisor"): its pods name
// deploy/runtimeclass.yaml's RuntimeClass (handler runsc), which the double runs on Docker's runsc runtime,
// as a node with gVisor would. CI runs the subset below (gVisor's ptrace platform makes every pod seconds
// slower); GVISOR_SUITE=full runs every section.
await describeKubernetesContract("docker", {
  sandboxRuntime: "gvisor",
  sections: gvisorSections(["sessions", "stateful Python sessions"]),
});
