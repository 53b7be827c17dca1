import { randomUUID } from "node:crypto";
import { createTestBucket, findTestObjectStore, listKeys, testS3Client, testStoreEnv } from "@code-interpreter/files/testing";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { openConfiguredFileStore } from "../src/file-store.js";
import { createTestApp, json, localBackend, runningSandboxes } from "./fixture.js";
import { describeRoutes } from "./routes.js";

// The whole route suite with FILE_STORE=s3, against a real object store (the Swift node of
// scripts/test.d/50-swift.sh, or S3_TEST_ENDPOINT), on the local backend.
const found = await findTestObjectStore();
if ("reason" in found && process.env.CI === "true") throw new Error(`the FILE_STORE=s3 route tests need an object store: ${found.reason}`);

if ("store" in found) {
  const bucket = await createTestBucket(found.store, "routes");
  const client = testS3Client(found.store);
  afterAll(async () => {
    client.destroy();
    await bucket.remove();
  });
  const prefix = `routes-${randomUUID()}/`;
  // The in-process server's S3 client reads credentials through the SDK's chain, as a deployed one does.
  const env = testStoreEnv(found.store, bucket.bucket, prefix);
  process.env.AWS_ACCESS_KEY_ID = env.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = env.AWS_SECRET_ACCESS_KEY;
  describeRoutes("local (FILE_STORE=s3)", localBackend, runningSandboxes, {
    env,
    // The "directory" of an S3 store is its key prefix; it has no tmp (an unfinished upload is not an object).
    listStore: async (_config, subdirectory) =>
      subdirectory === "." ? (await listKeys(client, bucket.bucket, prefix)).map((key) => key.slice(prefix.length)) : [],
  });

  describe("FILE_STORE=s3", { timeout: 60_000 }, () => {
    it("keeps an upload as one object under S3_PREFIX, and deletes it with the file", async () => {
      const t = await createTestApp({ ...env, S3_PREFIX: `${prefix}one/` }, undefined, localBackend);
      try {
        const form = new FormData();
        form.append("file", new Blob(["in the bucket"]), "b.txt");
        const uploaded = await json(await t.app.request("/v1/files", { method: "POST", body: form }));
        expect(await listKeys(client, bucket.bucket, `${prefix}one/`)).toEqual([`${prefix}one/${uploaded.file_id}`]);
        expect(await (await t.app.request(`/v1/files/${uploaded.file_id}`)).text()).toBe("in the bucket");
        expect((await t.app.request(`/v1/files/${uploaded.file_id}`, { method: "DELETE" })).status).toBe(204);
        expect(await listKeys(client, bucket.bucket, `${prefix}one/`)).toEqual([]);
      } finally {
        await t.close();
      }
    });

    it("reports a missing bucket in /health as degraded, naming S3_BUCKET, and file requests as 503", async () => {
      const t = await createTestApp({ ...env, S3_BUCKET: "no-such-bucket-here" }, undefined, localBackend);
      try {
        const health = await t.app.request("/health");
        expect(health.status).toBe(503);
        expect(await json(health)).toMatchObject({
          status: "degraded",
          file_store: { name: "s3", ok: false, detail: expect.stringContaining("S3_BUCKET") },
        });
        const list = await t.app.request("/v1/files");
        expect(list.status).toBe(503);
        expect((await json(list)).detail).toContain("file store is unavailable");
      } finally {
        await t.close();
      }
    });

    it("reports an unreachable endpoint as unhealthy, naming S3_ENDPOINT", async () => {
      const config = loadConfig({ ...env, S3_ENDPOINT: "http://127.0.0.1:9", LOG_LEVEL: "silent" });
      const store = await openConfiguredFileStore(config);
      try {
        expect(await store.health()).toEqual({ ok: false, detail: expect.stringContaining("S3_ENDPOINT") });
      } finally {
        await store.close();
      }
    });
  });
} else {
  describe.skip(`routes with FILE_STORE=s3 (${found.reason})`, () => {
    it("needs an S3-compatible object store", () => {});
  });
}
