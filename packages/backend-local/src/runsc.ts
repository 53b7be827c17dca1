// `@code-interpreter/backend-local/runsc`: the OCI bundle of a gVisor sandbox (config.json over the prepared root
// filesystem) and runsc's command line, for other sandboxes that must run what backend-local's gVisor ones run
// (the Kubernetes double's pods of a gVisor RuntimeClass). Nothing here imports more than core's policy and names.
export {
  type OciSpec,
  type RunscBundleOptions,
  type RunscOptions,
  runscGlobalArgs,
  runscRunArgs,
  runscSpec,
  SANDBOX_NAME_ANNOTATION,
  SERVER_PID_ANNOTATION,
} from "./runsc-bundle.js";
