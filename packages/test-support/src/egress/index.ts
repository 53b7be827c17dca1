export { describeEgressContract } from "./egress-contract.js";
export {
  allowing,
  EGRESS_SECRET_NAME,
  EGRESS_TEST_DNS,
  EGRESS_TEST_HOSTS,
  type EgressFixture,
  type EgressSuiteOptions,
  type EgressSuiteSettings,
  PYTHON_PROXY_HELPERS,
  startEgressFixture,
} from "./egress-fixture.js";
export { describeEgressHostile, EGRESS_HOSTILE_BOUNDS } from "./egress-hostile.js";
