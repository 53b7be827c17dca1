import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { FileSource } from "./record-store.js";
import { assertRecordName, type RecordOptions, type RecordStore, recordSource } from "./record-store.js";
import { readBody, statusOf } from "./s3-objects.js";

/** Without conditional PUTs, how long a writer lets racing PUTs land before it reads back whose mark won. */
const SETTLE_MS = 250;
/**
 * The purge HEADs every record (their expiry is in their metadata), so it runs at most this often per
 * store: reads already treat an expired record as absent, the purge only frees the space.
 */
const PURGE_INTERVAL_MS = 5 * 60 * 1000;
/** Objects inspected at once by the purge. */
const PURGE_CONCURRENCY = 16;

/**
 * Records as objects under `<prefix>records/<name>`, with their expiry (unix
 * milliseconds) and writer in user metadata. Create-if-absent is a HEAD that
 * finds nothing, then a PUT with `If-None-Match: *` (AWS S3, MinIO, Ceph): the
 * store refuses every writer but the first (412); over an expired record, a
 * PUT with `If-Match` on the expired one's ETag, which only the first
 * replacing writer gets through. A store that does not
 * implement conditional PUTs (501: Swift's S3 layer) gets a plain PUT, a
 * short settle, and a HEAD: with last-writer-wins only the writer whose mark
 * is on the object has created it. That leaves one gap: a writer whose HEAD
 * came before the first PUT landed and whose own PUT lands more than the
 * settle time after it also wins. Records written with `ifAbsent` are small
 * and sent in one PUT; others stream through the SDK's Upload.
 */
export class S3RecordStore implements RecordStore {
  /** Whether the store honours `If-None-Match: *` on PUT; learnt from its first 501. */
  private conditionalPuts = true;
  private lastPurge = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly unavailable: (error: unknown) => Error,
  ) {}

  async put(name: string, value: FileSource | string, options: RecordOptions): Promise<boolean> {
    const key = this.key(name);
    const writer = randomUUID();
    const metadata = { "expires-at": String(Date.now() + options.ttlSeconds * 1000), writer };
    if (!options.ifAbsent) {
      const source = recordSource(value);
      const body = source instanceof Uint8Array ? source : Readable.from(source, { objectMode: false });
      await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: key, Body: body, Metadata: metadata } })
        .done()
        .catch((error) => {
          throw this.unavailable(error);
        });
      return true;
    }
    const existing = await this.headOf(key);
    if (existing && !expired(existing.metadata)) return false;
    const source = recordSource(value);
    const chunks: Uint8Array[] = [];
    for await (const chunk of source instanceof Uint8Array ? [source] : source) chunks.push(chunk);
    const put = (conditional: boolean) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: Buffer.concat(chunks),
          Metadata: metadata,
          // The expired record is replaced only if it is still the one this writer saw.
          ...(conditional ? (existing?.etag ? { IfMatch: existing.etag } : { IfNoneMatch: "*" }) : {}),
        }),
      );
    try {
      if (this.conditionalPuts) {
        await put(true);
        return true;
      }
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 409 || (existing && statusOf(error) === 404)) return false;
      if (statusOf(error) !== 501) throw this.unavailable(error);
      // The store refuses conditional PUTs (Swift's S3 layer): settle it by reading back instead, from now on.
      this.conditionalPuts = false;
    }
    await put(false).catch((error) => {
      throw this.unavailable(error);
    });
    // Last writer wins: once every racing PUT has landed, only one writer finds its own mark.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return (await this.metadataOf(key))?.writer === writer;
  }

  async get(name: string): Promise<Buffer | undefined> {
    const stream = await this.stream(name);
    if (!stream) return undefined;
    return readBody(stream, (error) => this.unavailable(error));
  }

  async stream(name: string): Promise<Readable | undefined> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) })).catch((error) => {
      if (statusOf(error) === 404) return undefined;
      throw this.unavailable(error);
    });
    if (!object) return undefined;
    const body = object.Body as Readable;
    if (expired(object.Metadata)) {
      body.destroy();
      return undefined;
    }
    return body;
  }

  async delete(name: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) })).catch((error) => {
      if (statusOf(error) !== 404) throw this.unavailable(error);
    });
  }

  async list(prefix: string): Promise<string[]> {
    const root = `${this.prefix}records/`;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${root}${prefix}`, ContinuationToken: token }))
        .catch((error) => {
          throw this.unavailable(error);
        });
      for (const object of page.Contents ?? []) if (object.Key) names.push(object.Key.slice(root.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names.sort();
  }

  async purgeExpired(): Promise<number> {
    if (Date.now() - this.lastPurge < PURGE_INTERVAL_MS) return 0;
    this.lastPurge = Date.now();
    const names = await this.list("");
    let purged = 0;
    for (let index = 0; index < names.length; index += PURGE_CONCURRENCY) {
      await Promise.all(
        names.slice(index, index + PURGE_CONCURRENCY).map(async (name) => {
          const metadata = await this.metadataOf(this.key(name));
          if (!metadata || !expired(metadata)) return;
          await this.delete(name);
          purged++;
        }),
      );
    }
    return purged;
  }

  /** The object's user metadata (expired or not), or undefined when there is no such object. */
  private async metadataOf(key: string): Promise<Record<string, string> | undefined> {
    return (await this.headOf(key))?.metadata;
  }

  /** The object's user metadata and ETag, or undefined when there is no such object. */
  private async headOf(key: string): Promise<{ metadata: Record<string, string>; etag?: string } | undefined> {
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })).catch((error) => {
      if (statusOf(error) === 404) return undefined;
      throw this.unavailable(error);
    });
    return head ? { metadata: head.Metadata ?? {}, ...(head.ETag ? { etag: head.ETag } : {}) } : undefined;
  }

  private key(name: string): string {
    return `${this.prefix}records/${assertRecordName(name)}`;
  }
}

function expired(metadata: Record<string, string> | undefined): boolean {
  return Number(metadata?.["expires-at"] ?? 0) <= Date.now();
}
