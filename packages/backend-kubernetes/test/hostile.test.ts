import { describe, it } from "vitest";
import { describeHostileOnDouble } from "./hostile-on-double.js";
import { dockerAvailable, HOSTILE_ASSUMES, HOSTILE_GAPS } from "./support.js";

// The hostile suite on the double's Docker runtime: the pod spec's securityContext, resources and
// emptyDirs are realised by the Docker engine, much as a kubelet with runc would. What the double
// cannot show is listed in HOSTILE_GAPS and HOSTILE_ASSUMES (and in the README).
if (await dockerAvailable()) {
  await describeHostileOnDouble({ name: "kubernetes (Docker pods)", runtime: "docker", gaps: HOSTILE_GAPS, assumes: HOSTILE_ASSUMES });
} else {
  describe.skip("kubernetes backend against hostile code (no Docker engine or executor image for the double)", () => {
    it("runs against the Kubernetes API double with pods on Docker", () => {});
  });
}
