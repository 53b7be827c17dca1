import { randomBytes } from "node:crypto";
import { BackendUnavailableError, TooManyRequestsError } from "@code-interpreter/core";
import { admitSnapshot, SessionSnapshots, type SnapshotStorage } from "@code-interpreter/core/engine";
import { type FileStore, openFileStore } from "@code-interpreter/files";
import type { Config } from "./config.js";
import type { Logger } from "./observability/logger.js";

/**
 * Opens the store FILE_STORE names, with its settings. An S3 store that does
 * not answer is reported here, naming what to check, and in /health; the
 * server still starts, so it serves again as soon as the store is back.
 */
export async function openConfiguredFileStore(config: Config, logger?: Logger): Promise<FileStore> {
  const limits = { maxFileBytes: config.MAX_FILE_SIZE_MB * 1024 * 1024, ttlSeconds: config.FILE_TTL_SEC };
  if (config.FILE_STORE === "dir") return openFileStore({ kind: "dir", dir: config.FILE_STORAGE_DIR, ...limits });
  const store = await openFileStore({
    kind: "s3",
    bucket: config.S3_BUCKET ?? "",
    prefix: config.S3_PREFIX,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    ...(config.S3_ENDPOINT ? { endpoint: config.S3_ENDPOINT } : {}),
    ...(config.S3_REGION ? { region: config.S3_REGION } : {}),
    ...limits,
  });
  const health = await store.health();
  if (health.ok) logger?.info({ fileStore: "s3", bucket: config.S3_BUCKET, endpoint: config.S3_ENDPOINT }, "file store ready");
  else
    logger?.error(
      { fileStore: "s3" },
      `FILE_STORE=s3 does not answer: ${health.detail} (S3_ENDPOINT, S3_BUCKET, S3_REGION, AWS credentials)`,
    );
  return store;
}

/**
 * Paused sessions' snapshots (issue 23), in the store's record area (never
 * among the files), signed with SNAPSHOT_KEY; unset, with a random key for
 * this process, said in the log (its snapshots cannot be resumed after a
 * restart or by another replica). A tenant's snapshots count toward its
 * TENANT_MAX_SNAPSHOTS and, with its files, TENANT_MAX_STORED_MB (429 past
 * them). `store` is read at each use: the server opens the store after its
 * backends.
 */
export function sessionSnapshots(config: Config, store: () => FileStore | undefined, logger?: Logger): SessionSnapshots {
  let key: string | Buffer | undefined = config.SNAPSHOT_KEY;
  if (key === undefined) {
    key = randomBytes(32);
    logger?.warn(
      "SNAPSHOT_KEY is not set: paused sessions are signed with a key of this process, and cannot be resumed after a restart or by another replica",
    );
  }
  const records = (): SnapshotStorage => {
    const opened = store();
    if (!opened) throw new BackendUnavailableError({ message: "the file store is not open yet: session snapshots are kept there" });
    return opened.records;
  };
  const storage: SnapshotStorage = {
    put: (name, value, options) => records().put(name, value, options),
    get: (name) => records().get(name),
    delete: (name) => records().delete(name),
    list: (prefix) => records().list(prefix),
  };
  return new SessionSnapshots({
    storage,
    key,
    ttlSeconds: config.SESSION_SNAPSHOT_TTL_SECONDS,
    maxBytes: config.MAX_SNAPSHOT_MB * 1024 * 1024,
    admit: async (tenant, bytes, snapshots) => {
      const policy = { maxSnapshots: config.TENANT_MAX_SNAPSHOTS, maxStoredBytes: config.TENANT_MAX_STORED_MB * 1024 * 1024 };
      const fileBytes = (await store()?.totalBytes({ tenant })) ?? 0;
      const decision = admitSnapshot(policy, { tenant, bytes, snapshots, fileBytes });
      if (!decision.allowed) throw new TooManyRequestsError({ message: decision.reason, retryAfterSeconds: 60 });
    },
  });
}
