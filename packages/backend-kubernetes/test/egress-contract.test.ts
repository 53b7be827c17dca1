// Issue 22's shared egress contract (test-support's describeEgressContract) on the kubernetes
// backend, through the real client against the double: pods on the double's internal Docker
// network reach the suite's egress proxy on its TCP listener at the network's gateway address.
import { spawnSync } from "node:child_process";
import { describeEgressContract } from "@code-interpreter/test-support/egress";
import { describe } from "vitest";
import { egressSuiteOnDouble } from "./egress-on-double.js";
import { image } from "./support.js";

const suite = await egressSuiteOnDouble();
// npm comes with the executor image's Node.js; an image built before that has none, and its npm tests cannot pass.
const npmMissing =
  suite !== undefined && spawnSync("docker", ["run", "--rm", "--network", "none", image, "sh", "-c", "command -v npm"]).status !== 0;
const NPM_GAPS = {
  "installs with npm from the registry when it is allowed": `the executor image ${image} has no npm (rebuild it)`,
  "fails npm with the proxy's reason, at once, when the registry is not allowed": `the executor image ${image} has no npm (rebuild it)`,
};

if (suite) describeEgressContract({ ...suite.options, ...(npmMissing ? { gaps: NPM_GAPS } : {}) });
else describe.skip("kubernetes backend egress contract (no Docker)", () => {});
