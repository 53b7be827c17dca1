import { join } from "node:path";
import { listSandboxProcesses, listSessionDirs } from "@code-interpreter/backend-local/testing";
import { createTestBucket, findTestObjectStore, testStoreEnv } from "@code-interpreter/files/testing";
import { serverEnv, stateDir } from "@code-interpreter/test-support";
import type { SharedSnapshotStore, SnapshotServer } from "@code-interpreter/test-support/snapshots";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/observability/logger.js";
import { startServer } from "../../src/server.js";

/**
 * Starts a real server (startServer: the backend EXECUTOR_BACKEND names,
 * built by select-backend as in production) on a loopback port, with its
 * state and directory file store in a fresh directory, for the shared
 * snapshot suites; `stop()` closes it and removes the directory.
 */
export async function startSnapshotServer(prefix: string, env: Record<string, string>): Promise<SnapshotServer & { dir: string }> {
  const dir = await stateDir(prefix);
  const config = loadConfig(serverEnv(dir.path, { PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent", ...env }));
  const server = await startServer(config, createLogger({ level: "silent", format: "plain" })).catch(async (error) => {
    await dir.remove();
    throw error;
  });
  return {
    url: server.url,
    fileStorageDir: config.FILE_STORAGE_DIR,
    dir: dir.path,
    stop: async () => {
      await server.close();
      await dir.remove();
    },
  };
}

/** The local backend's leftovers of a server started here: sandbox processes of this process, and session directories below `dir`. */
export async function localSnapshotLeftovers(dir: string | undefined): Promise<string[]> {
  const sessions = dir ? await listSessionDirs(join(dir, "local")) : [];
  return [...(await listSandboxProcesses()), ...sessions.map((name) => `session dir ${name}`)];
}

/**
 * A fresh bucket of the test S3 store (scripts/test.d/50-swift.sh) for two replicas' snapshots, or why there is
 * none: under CI=true its absence fails the caller. The servers' S3 clients read credentials through the SDK's
 * chain, as deployed ones do, so they go into this process's environment.
 */
export async function s3SnapshotStore(): Promise<SharedSnapshotStore> {
  const found = await findTestObjectStore();
  if ("reason" in found) throw new Error(`the two-replica snapshot suite needs an S3 store: ${found.reason}`);
  const bucket = await createTestBucket(found.store, "snapshots");
  const env = testStoreEnv(found.store, bucket.bucket);
  process.env.AWS_ACCESS_KEY_ID = env.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = env.AWS_SECRET_ACCESS_KEY;
  return { env, remove: bucket.remove };
}
