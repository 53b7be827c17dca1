/** A tenant's snapshot limits (issue 23), as the operator set them. */
export interface SnapshotPolicy {
  /** Snapshots (paused sessions) a tenant may keep at once (TENANT_MAX_SNAPSHOTS). */
  maxSnapshots: number;
  /** What a tenant's stored files and snapshots may take together, in bytes (TENANT_MAX_STORED_MB). */
  maxStoredBytes: number;
}

/** A snapshot about to be kept, and what its tenant keeps already. */
export interface SnapshotAttempt {
  tenant: string;
  /** The new snapshot's size. */
  bytes: number;
  /** The tenant's snapshots kept now. */
  snapshots: { count: number; bytes: number };
  /** The tenant's stored files. */
  fileBytes: number;
}

export type SnapshotAdmission =
  | { allowed: true }
  | { allowed: false; rule: "TENANT_MAX_SNAPSHOTS" | "TENANT_MAX_STORED_MB"; reason: string };

/** Whether a tenant may keep one more snapshot, and if not, the reason its user reads. */
export function admitSnapshot(policy: SnapshotPolicy, attempt: SnapshotAttempt): SnapshotAdmission {
  const { tenant, snapshots } = attempt;
  if (snapshots.count >= policy.maxSnapshots) {
    return {
      allowed: false,
      rule: "TENANT_MAX_SNAPSHOTS",
      reason: `tenant ${tenant} keeps ${snapshots.count} paused sessions (TENANT_MAX_SNAPSHOTS=${policy.maxSnapshots}); delete or resume one first (this session keeps running)`,
    };
  }
  const total = attempt.fileBytes + snapshots.bytes + attempt.bytes;
  if (total > policy.maxStoredBytes) {
    return {
      allowed: false,
      rule: "TENANT_MAX_STORED_MB",
      reason: `tenant ${tenant} would store ${total} bytes of files and snapshots with this one of ${attempt.bytes} (TENANT_MAX_STORED_MB=${policy.maxStoredBytes / 1024 / 1024}); delete files or paused sessions first (this session keeps running)`,
    };
  }
  return { allowed: true };
}
