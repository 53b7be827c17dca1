// Upload and download of one large file through each file store, next to the floor: a raw
// S3 PUT and GET of the same bytes with the SDK, in the same run, against the same object store.
//
//   node bench/src/file-stores.ts            # 50 MB, 3 samples each
//   node bench/src/file-stores.ts --quick    # 8 MB, 1 sample (CI)
//
// The object store: S3_ENDPOINT / S3_BUCKET / S3_REGION / S3_FORCE_PATH_STYLE and the AWS
// credentials when S3_BUCKET is set (objects go under a fresh prefix and are deleted), else the
// Swift node of scripts/test.d/50-swift.sh (a bucket of its own, deleted at the end).
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { ALL_TENANTS, createS3Client, DirectoryFileStore, type FileStore, S3FileStore } from "@code-interpreter/files";
import { latency } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "size-mb": { type: "string" },
    samples: { type: "string" },
  },
});
const MB = 1024 * 1024;
const sizeMb = Number(args["size-mb"] ?? (args.quick ? 8 : 50));
const samples = Number(args.samples ?? (args.quick ? 1 : 3));
const size = sizeMb * MB;
const progress = (message: string) => process.stderr.write(`${message}\n`);

interface Target {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  prefix: string;
  /** Removes what the run made. */
  cleanup(client: S3Client): Promise<void>;
}

async function objectStore(): Promise<Target> {
  const prefix = `bench-${randomUUID()}/`;
  if (process.env.S3_BUCKET) {
    return {
      ...(process.env.S3_ENDPOINT ? { endpoint: process.env.S3_ENDPOINT } : {}),
      ...(process.env.S3_REGION ? { region: process.env.S3_REGION } : {}),
      forcePathStyle: process.env.S3_FORCE_PATH_STYLE === "true" || process.env.S3_FORCE_PATH_STYLE === "1",
      bucket: process.env.S3_BUCKET,
      prefix,
      cleanup: (client) => emptyPrefix(client, process.env.S3_BUCKET ?? "", prefix),
    };
  }
  const stateFile = join(process.env.SWIFT_STATE_DIR || join(tmpdir(), "code-interpreter-swift"), "s3.json");
  const swift = JSON.parse(
    await readFile(stateFile, "utf8").catch(() => {
      throw new Error(`no S3_BUCKET and no ${stateFile}: start the Swift node with bash scripts/test.d/50-swift.sh`);
    }),
  ) as { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; forcePathStyle: boolean };
  const bucket = `bench-${randomUUID().slice(0, 8)}`;
  const target: Target = {
    endpoint: swift.endpoint,
    region: swift.region,
    forcePathStyle: swift.forcePathStyle,
    credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
    bucket,
    prefix,
    cleanup: async (client) => {
      await emptyPrefix(client, bucket, "");
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    },
  };
  const client = createS3Client(target);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return target;
}

async function emptyPrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  // One DELETE per key: DeleteObjects needs a Content-MD5 header the SDK no longer sends.
  for (const object of listed.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
}

/** The file's bytes, made chunk by chunk as a client's upload arrives (never all in memory). */
function* chunks(chunkBytes = 256 * 1024): Generator<Buffer> {
  for (let offset = 0; offset < size; offset += chunkBytes) yield Buffer.alloc(Math.min(chunkBytes, size - offset), offset % 251);
}

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let received = 0;
  for await (const chunk of stream) received += (chunk as Uint8Array).length;
  if (received !== size) throw new Error(`read ${received} bytes of ${size}`);
  return received;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

interface Row {
  name: string;
  upload: number[];
  download: number[];
}

async function measureStore(name: string, store: FileStore): Promise<Row> {
  const row: Row = { name, upload: [], download: [] };
  for (let sample = 0; sample < samples; sample++) {
    progress(`${name}: sample ${sample + 1}/${samples}`);
    let fileId = "";
    row.upload.push(await timed(async () => (fileId = (await store.save(Readable.from(chunks()), "bench.bin", ALL_TENANTS)).file_id)));
    row.download.push(await timed(async () => drain((await store.stream(fileId, ALL_TENANTS)).stream)));
    await store.delete(fileId, ALL_TENANTS);
  }
  return row;
}

async function measureFloor(client: S3Client, target: Target): Promise<Row> {
  const row: Row = { name: "raw SDK PUT / GET (floor)", upload: [], download: [] };
  // The floor holds the bytes in memory and sends them in one PUT: nothing a store can do is faster.
  const bytes = Buffer.concat([...chunks()]);
  for (let sample = 0; sample < samples; sample++) {
    progress(`floor: sample ${sample + 1}/${samples}`);
    const key = `${target.prefix}floor-${sample}`;
    row.upload.push(await timed(() => client.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: bytes }))));
    row.download.push(
      await timed(async () => drain((await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }))).Body as Readable)),
    );
    await client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: key }));
  }
  return row;
}

const target = await objectStore();
const client = createS3Client(target);
const dir = await mkdtemp(join(tmpdir(), "bench-files-"));
const limits = { maxFileBytes: size, ttlSeconds: 3600 };
const rows: Row[] = [];
try {
  rows.push(await measureFloor(client, target));
  rows.push(await measureStore("s3 store (Swift's S3 API)", new S3FileStore({ ...target, ...limits }, client)));
  rows.push(await measureStore("directory store (local disk)", await DirectoryFileStore.open({ dir, ...limits })));
} finally {
  await target.cleanup(client).catch((error) => progress(`cleanup failed: ${(error as Error).message}`));
  client.destroy();
  await rm(dir, { recursive: true, force: true });
}

const floor = rows[0] as Row;
const p50 = (values: number[]) => latency(values).p50;
const cell = (values: number[], floorValues: number[]) =>
  `${p50(values).toFixed(0)} ms, ${(sizeMb / (p50(values) / 1000)).toFixed(0)} MB/s${values === floorValues ? "" : `, ${(p50(values) / p50(floorValues)).toFixed(2)}×`}`;
process.stdout.write(`${sizeMb} MB, ${samples} sample(s) each, p50\n`);
process.stdout.write(`${"path".padEnd(32)}${"upload".padEnd(30)}download\n`);
for (const row of rows) {
  process.stdout.write(`${row.name.padEnd(32)}${cell(row.upload, floor.upload).padEnd(30)}${cell(row.download, floor.download)}\n`);
}
process.stdout.write(
  `${JSON.stringify({
    sizeMb,
    samples,
    rows: rows.map((row) => ({ name: row.name, upload: latency(row.upload), download: latency(row.download) })),
  })}\n`,
);
