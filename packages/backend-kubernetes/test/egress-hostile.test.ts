// Issue 22's shared hostile egress cases (test-support's describeEgressHostile) on the kubernetes
// backend, through the real client against the double: code in pods on the double's internal Docker
// network, with `network`, trying to get past the suite's egress proxy (on its TCP listener).
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { describeEgressHostile } from "@code-interpreter/test-support/egress";
import { afterAll, describe } from "vitest";
import type { KubernetesBackend } from "../src/index.js";
import { createTestBackend, dockerAvailable, leftovers, startDouble, stopDouble } from "./support.js";

const available = await dockerAvailable();
// Started before the suite: its gateway listens at the double's network's gateway address.
const double: KubernetesDouble | undefined = available ? await startDouble({ runtime: "docker", podNetwork: "internal" }) : undefined;
let backend: KubernetesBackend | undefined;
afterAll(async () => {
  if (double) await stopDouble(double);
});

if (double) {
  describeEgressHostile({
    name: "kubernetes",
    createBackend: async ({ egress }) => {
      backend = await createTestBackend(double, { egress });
      return backend;
    },
    listLeftovers: () => leftovers(double),
    gatewayOptions: { listen: { host: double.podNetworkGateway ?? "", port: 0 } },
    gaps: {
      // Nothing gets through, but not at once: Docker drops what leaves an internal network, as a
      // NetworkPolicy drops it on a cluster. The lockdown init container (not run by the double) rejects it.
      "fails raw sockets to any address at once, with network allowed":
        "the double's internal network drops packets to other addresses (a connect times out rather than fails at once), as a NetworkPolicy does",
    },
  });
} else describe.skip("kubernetes backend egress hostile suite (no Docker)", () => {});
