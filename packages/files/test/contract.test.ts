import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, describe, it } from "vitest";
import { DirectoryFileStore, S3FileStore } from "../src/index.js";
import {
  createTestBucket,
  describeFileStoreContract,
  findTestObjectStore,
  listKeys,
  testS3Client,
  testStoreSettings,
} from "../src/testing/index.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describeFileStoreContract("directory", {
  openStore: async (limits) => {
    const dir = await mkdtemp(join(tmpdir(), "ci-files-contract-"));
    dirs.push(dir);
    return DirectoryFileStore.open({ dir, ...limits });
  },
  reopen: (store, limits) => DirectoryFileStore.open({ dir: (store as DirectoryFileStore).options.dir, ...limits }),
  leftovers: async (store) => {
    const dir = (store as DirectoryFileStore).options.dir;
    const names = (await readdir(dir)).filter((name) => name !== "tmp" && name !== "records");
    return [...names, ...(await readdir(join(dir, "tmp"))), ...(await readdir(join(dir, "records")))];
  },
});

// The S3 store against a real object store: the Swift node of scripts/test.d/50-swift.sh (or S3_TEST_ENDPOINT).
const found = await findTestObjectStore();
if ("reason" in found && process.env.CI === "true") throw new Error(`the S3 file-store tests need an object store: ${found.reason}`);
if ("store" in found) {
  const objectStore = found.store;
  const bucket = await createTestBucket(objectStore, "files");
  const client = testS3Client(objectStore);
  afterAll(async () => {
    client.destroy();
    await bucket.remove();
  });
  // Each test gets its own prefix in one bucket, as several deployments may share one.
  describeFileStoreContract("s3", {
    openStore: async (limits) =>
      new S3FileStore({
        ...testStoreSettings(objectStore, bucket.bucket),
        prefix: `t-${randomUUID()}/`,
        partSizeBytes: 5 * 1024 * 1024,
        ...limits,
      }),
    reopen: async (store, limits) => new S3FileStore({ ...(store as S3FileStore).options, ...limits }),
    // Objects, and multipart uploads never completed nor aborted (their parts would stay in the store).
    leftovers: async (store) => {
      const prefix = (store as S3FileStore).options.prefix;
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket, Prefix: prefix }));
      return [...(await listKeys(client, bucket.bucket, prefix)), ...(uploads.Uploads ?? []).map((upload) => `upload of ${upload.Key}`)];
    },
  });
} else {
  describe.skip(`file store contract: s3 (${found.reason})`, () => {
    it("needs an S3-compatible object store", () => {});
  });
}
