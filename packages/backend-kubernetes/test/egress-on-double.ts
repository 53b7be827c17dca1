// The kubernetes backend as the shared egress suites (test-support's describeEgress*) take it:
// a double whose pods run on its own internal Docker network, the suite's egress proxy listening
// at that network's gateway address (pods cannot be given a socket: TCP and a token).
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import type { EgressSuiteOptions } from "@code-interpreter/test-support/egress";
import { afterAll } from "vitest";
import { createTestBackend, dockerAvailable, leftovers, startDouble, stopDouble } from "./support.js";

/** A started double and the suite options that build the backend on it; undefined without Docker. */
export async function egressSuiteOnDouble(): Promise<{ double: KubernetesDouble; options: Omit<EgressSuiteOptions, "gaps"> } | undefined> {
  if (!(await dockerAvailable())) return undefined;
  const double = await startDouble({ runtime: "docker", podNetwork: "internal" });
  afterAll(() => stopDouble(double));
  return {
    double,
    options: {
      name: "kubernetes",
      createBackend: ({ egress }) => createTestBackend(double, { egress }),
      listLeftovers: () => leftovers(double),
      gatewayOptions: { listen: { host: double.podNetworkGateway ?? "", port: 0 } },
    },
  };
}
