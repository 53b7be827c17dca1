import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createS3Client } from "../s3-file-store.js";

/** Where a test object store answers, and how to sign in. */
export interface TestObjectStore {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
}

/** The state file scripts/test.d/50-swift.sh writes. */
export const SWIFT_STATE_FILE = join(process.env.SWIFT_STATE_DIR || join(tmpdir(), "code-interpreter-swift"), "s3.json");

/**
 * The S3-compatible store tests run against: S3_TEST_ENDPOINT (with
 * S3_TEST_ACCESS_KEY_ID, S3_TEST_SECRET_ACCESS_KEY, S3_TEST_REGION) when set,
 * else the Swift node scripts/test.d/50-swift.sh started. Resolves with the
 * reason when there is none or it does not answer, so a test file can fail
 * (CI) or skip (elsewhere) with it.
 */
export async function findTestObjectStore(): Promise<{ store: TestObjectStore } | { reason: string }> {
  let store: TestObjectStore;
  if (process.env.S3_TEST_ENDPOINT) {
    store = {
      endpoint: process.env.S3_TEST_ENDPOINT,
      region: process.env.S3_TEST_REGION || "us-east-1",
      accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID || "",
      secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY || "",
      forcePathStyle: true,
    };
  } else {
    try {
      store = JSON.parse(await readFile(SWIFT_STATE_FILE, "utf8")) as TestObjectStore;
    } catch (error) {
      return { reason: `no S3_TEST_ENDPOINT and no ${SWIFT_STATE_FILE} (run scripts/test.d/50-swift.sh): ${(error as Error).message}` };
    }
  }
  const client = testS3Client(store);
  try {
    await client.send(new ListBucketsCommand({}));
    return { store };
  } catch (error) {
    return { reason: `the object store at ${store.endpoint} does not answer: ${(error as Error).name}: ${(error as Error).message}` };
  } finally {
    client.destroy();
  }
}

/** A client for the test store, configured as the S3 file store configures its own. */
export function testS3Client(store: TestObjectStore): S3Client {
  return createS3Client({
    endpoint: store.endpoint,
    region: store.region,
    forcePathStyle: store.forcePathStyle,
    credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
  });
}

/** The settings an S3FileStore (or the server's S3_* variables) needs for `bucket` on the test store. */
export function testStoreSettings(store: TestObjectStore, bucket: string) {
  return {
    bucket,
    endpoint: store.endpoint,
    region: store.region,
    forcePathStyle: store.forcePathStyle,
    credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
  };
}

/** The server's environment for `bucket` on the test store (FILE_STORE=s3 and the standard AWS variables). */
export function testStoreEnv(store: TestObjectStore, bucket: string, prefix = ""): Record<string, string> {
  return {
    FILE_STORE: "s3",
    S3_ENDPOINT: store.endpoint,
    S3_BUCKET: bucket,
    S3_REGION: store.region,
    S3_FORCE_PATH_STYLE: String(store.forcePathStyle),
    ...(prefix ? { S3_PREFIX: prefix } : {}),
    AWS_ACCESS_KEY_ID: store.accessKeyId,
    AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
  };
}

/** Keys in `bucket` under `prefix`. */
export async function listKeys(client: S3Client, bucket: string, prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ""));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** A new, empty bucket with a unique name; `remove()` empties and deletes it. */
export async function createTestBucket(store: TestObjectStore, label = "test"): Promise<{ bucket: string; remove(): Promise<void> }> {
  const client = testS3Client(store);
  const bucket = `ci-${label}-${randomUUID().slice(0, 8)}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    remove: async () => {
      try {
        // One DELETE per key: DeleteObjects needs a Content-MD5 header the SDK no longer sends (and Swift requires).
        for (const key of await listKeys(client, bucket)) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        client.destroy();
      }
    },
  };
}
