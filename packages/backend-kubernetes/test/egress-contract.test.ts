// Issue 22's shared egress contract (test-support's describeEgressContract) on the kubernetes
// backend, through the real client against the double: pods on the double's internal Docker
// network reach the suite's egress proxy on its TCP listener at the network's gateway address.
import { spawnSync } from "node:child_process";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { describeEgressContract } from "@code-interpreter/test-support/egress";
import { afterAll, describe } from "vitest";
import type { KubernetesBackend } from "../src/index.js";
import { createTestBackend, dockerAvailable, image, leftovers, startDouble, stopDouble } from "./support.js";

const available = await dockerAvailable();
// Started before the suite: its gateway listens at the double's network's gateway address.
const double: KubernetesDouble | undefined = available ? await startDouble({ runtime: "docker", podNetwork: "internal" }) : undefined;
let backend: KubernetesBackend | undefined;
// npm comes with the executor image's Node.js; an image built before that has none, and its npm tests cannot pass.
const npmMissing =
  double !== undefined && spawnSync("docker", ["run", "--rm", "--network", "none", image, "sh", "-c", "command -v npm"]).status !== 0;
const NPM_GAPS = {
  "installs with npm from the registry when it is allowed": `the executor image ${image} has no npm (rebuild it)`,
  "fails npm with the proxy's reason, at once, when the registry is not allowed": `the executor image ${image} has no npm (rebuild it)`,
};
afterAll(async () => {
  if (double) await stopDouble(double);
});

if (double) {
  describeEgressContract({
    name: "kubernetes",
    createBackend: async ({ egress }) => {
      backend = await createTestBackend(double, { egress });
      return backend;
    },
    listLeftovers: () => leftovers(double),
    gatewayOptions: { listen: { host: double.podNetworkGateway ?? "", port: 0 } },
    ...(npmMissing ? { gaps: NPM_GAPS } : {}),
  });
} else describe.skip("kubernetes backend egress contract (no Docker)", () => {});
