import {
  describeSnapshotContract,
  describeSnapshotHostile,
  type SnapshotServer,
  snapshotClients,
  snapshotServerEnv,
} from "@code-interpreter/test-support/snapshots";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

// A tenant's snapshot count (TENANT_MAX_SNAPSHOTS): past it a pause is 429 with the reason, and the session keeps running.
describe("TENANT_MAX_SNAPSHOTS on the local backend", { timeout: 120_000 }, () => {
  let server: Awaited<ReturnType<typeof startSnapshotServer>> | undefined;
  const { acme } = snapshotClients(
    { name: "local", startServer: async () => server as SnapshotServer, listLeftovers: async () => [] },
    () => {
      if (!server) throw new Error("no server");
      return server;
    },
  );
  beforeAll(async () => {
    server = await startSnapshotServer(
      "ci-snapshots-quota-local",
      snapshotServerEnv({ EXECUTOR_BACKEND: "local", TENANT_MAX_SNAPSHOTS: "1" }),
    );
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    expect(await localSnapshotLeftovers(server?.dir)).toEqual([]);
  });

  it("refuses a second paused session with 429, and that session keeps running", async () => {
    const first = await acme.create();
    const second = await acme.create();
    try {
      expect((await acme.pause(first)).status).toBe(200);
      const refused = await acme.pause(second);
      expect(refused.status).toBe(429);
      expect(refused.body.detail).toMatch(/TENANT_MAX_SNAPSHOTS=1.*keeps running/);
      expect((await acme.bash(second, "echo still")).body).toMatchObject({ exit_code: 0, stdout: "still\n" });
    } finally {
      for (const id of [first, second]) await acme.delete(id);
    }
  });
});
