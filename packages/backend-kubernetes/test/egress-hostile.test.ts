// Issue 22's shared hostile egress cases (test-support's describeEgressHostile) on the kubernetes
// backend, through the real client against the double: code in pods on the double's internal Docker
// network, with `network`, trying to get past the suite's egress proxy (on its TCP listener).
import { describeEgressHostile } from "@code-interpreter/test-support/egress";
import { describe } from "vitest";
import { egressSuiteOnDouble } from "./egress-on-double.js";

const suite = await egressSuiteOnDouble();

if (suite) {
  describeEgressHostile({
    ...suite.options,
    gaps: {
      // Nothing gets through, but not at once: Docker drops what leaves an internal network, as a
      // NetworkPolicy drops it on a cluster. The lockdown init container (not run by the double) rejects it.
      "fails raw sockets to any address at once, with network allowed":
        "the double's internal network drops packets to other addresses (a connect times out rather than fails at once), as a NetworkPolicy does",
    },
  });
} else describe.skip("kubernetes backend egress hostile suite (no Docker)", () => {});
