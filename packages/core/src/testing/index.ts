export { type BackendContractOptions, type ContractSettings, describeBackendContract } from "./contract.js";
export { describeSandboxEnvironment } from "./contract-environment.js";
export { describeRichResults, pngSize } from "./contract-rich-results.js";
export {
  deferred,
  FAKE_LIMITS,
  type FakeAnswer,
  FakeClock,
  FakeDriver,
  type FakeDriverOptions,
  FakeHold,
  type FakeOneShot,
  type FakeOperation,
  type FakeResponder,
  type FakeSandboxRecord,
  type FakeSession,
} from "./fake-driver.js";
export { FakeRunner, type FakeRunnerKind, type FakeRunnerRequest } from "./fake-runner.js";
export {
  describeHostileSuite,
  HOSTILE_MARKER,
  HOSTILE_SETTINGS,
  type HostileSettings,
  type HostileSuiteOptions,
  markedHostProcesses,
  SYSCALL_TESTS,
} from "./hostile.js";
export { MEMORY_EGRESS_ENV, MemoryEgressAttachment, MemoryEgressGateway } from "./memory-egress.js";
export { type SeccompCall, seccompVerdict } from "./seccomp-verdict.js";
export { describeSection, gvisorSections, type SuiteSections, unknownSections } from "./suite-sections.js";
