export { type ClientHelloPeek, peekClientHello } from "./client-hello.js";
export { createEgressGateway, type EgressProxy, egressEnvironment } from "./egress-gateway.js";
export {
  type EgressAttemptEvent,
  type EgressHostMapping,
  type EgressOptions,
  type EgressSecret,
  EgressSettingsError,
  egressOptionsFromEnv,
  parseHosts,
  parseSecrets,
} from "./egress-options.js";
export { decideAddresses, decideName, parseRule, type Rule, type Rules } from "./rules.js";
