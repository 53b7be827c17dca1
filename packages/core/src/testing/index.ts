export { type BackendContractOptions, type ContractSettings, describeBackendContract } from "./contract.js";
export { describeSandboxEnvironment } from "./contract-environment.js";
export { describeRichResults, pngSize } from "./contract-rich-results.js";
export {
  describeHostileSuite,
  HOSTILE_MARKER,
  HOSTILE_SETTINGS,
  type HostileSettings,
  type HostileSuiteOptions,
  markedHostProcesses,
  SYSCALL_TESTS,
} from "./hostile.js";
export { type SeccompCall, seccompVerdict } from "./seccomp-verdict.js";
