export { describeSnapshotContract } from "./snapshot-contract.js";
export {
  type Answer,
  FRESH_KERNEL_WORDS,
  SNAPSHOT_TENANT_KEYS,
  SnapshotClient,
  type SnapshotServer,
  type SnapshotSuiteOptions,
  snapshotClients,
  snapshotServerEnv,
} from "./snapshot-fixture.js";
export { describeSnapshotHostile, SNAPSHOT_HOSTILE_CAP_MB } from "./snapshot-hostile.js";
export { describeSnapshotReplicas, type SharedSnapshotStore, type SnapshotReplicaOptions } from "./snapshot-replicas.js";
