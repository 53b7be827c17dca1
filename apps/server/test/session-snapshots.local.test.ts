import { describeSnapshotContract, describeSnapshotHostile } from "@code-interpreter/test-support/snapshots";
import { localSnapshotLeftovers, startSnapshotServer } from "./support/snapshot-servers.js";

// Issue 23's shared snapshot suites (test-support's describeSnapshotContract and describeSnapshotHostile)
// on the local backend: a real server over HTTP with two tenants, snapshots in its directory file store.
for (const [describeSuite, prefix] of [
  [describeSnapshotContract, "ci-snapshots-local"],
  [describeSnapshotHostile, "ci-snapshots-hostile-local"],
] as const) {
  let dir: string | undefined;
  describeSuite({
    name: "local",
    startServer: async (env) => {
      const server = await startSnapshotServer(prefix, { EXECUTOR_BACKEND: "local", ...env });
      dir = server.dir;
      return server;
    },
    listLeftovers: () => localSnapshotLeftovers(dir),
  });
}
