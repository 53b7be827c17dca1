import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { BackendUnavailableError, FileNotFoundError } from "@code-interpreter/core";
import {
  ALL_TENANTS,
  cleanFilename,
  FILE_ID,
  type FileAccess,
  type FileSource,
  type FileStore,
  type FileStoreHealth,
  type FileStoreLimits,
  fileNotFound,
  fileTooLarge,
  isExpired,
  mayAccess,
  type StoredFile,
} from "./file-store.js";
import { readBody, statusOf } from "./s3-objects.js";
import { S3RecordStore } from "./s3-record-store.js";

/** Settings of an S3 store. */
export interface S3FileStoreOptions extends FileStoreLimits {
  /** @default S3_BUCKET */
  bucket: string;
  /** Prepended to every key, e.g. `files/`, so one bucket can hold several stores. @default S3_PREFIX, "" */
  prefix?: string;
  /** The store's URL, for anything but AWS S3 (MinIO, Ceph RGW, Swift, GCS). @default S3_ENDPOINT */
  endpoint?: string;
  /** @default S3_REGION, else the SDK's own chain (AWS_REGION, ~/.aws/config) */
  region?: string;
  /** `http://endpoint/bucket/key` instead of `http://bucket.endpoint/key` (most stores but AWS need it). @default S3_FORCE_PATH_STYLE */
  forcePathStyle?: boolean;
  /** Explicit credentials; by default the SDK's chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE, ~/.aws, web identity, instance roles). */
  credentials?: S3ClientConfig["credentials"];
  /**
   * Uploads larger than this go as multipart, in parts of this size; an upload holds at most
   * `uploadConcurrency + 1` parts in memory. @default 16 MiB (at least 5 MiB, S3's minimum)
   */
  partSizeBytes?: number;
  /** Parts of one upload sent at once. @default 2 (with 16 MiB parts, 1.5× a raw PUT on Swift here; 1 part at a time was 4.5×) */
  uploadConcurrency?: number;
}

const MB = 1024 * 1024;
/** Multipart uploads older than this were abandoned by a crashed replica. */
const ABANDONED_UPLOAD_MS = 60 * 60 * 1000;
/** Listings give LastModified to the second: one second either way. */
const CLOCK_SLACK_MS = 1000;
/** HEAD requests in flight at once while listing. */
const LIST_CONCURRENCY = 16;

/**
 * Files as objects in an S3-compatible bucket, one object per file under
 * `<prefix><file id>`. Everything about a file lives with it, so several
 * replicas share one bucket and no database is needed: the size is the
 * object's length, the filename its Content-Disposition (which carries any
 * UTF-8 name), the tenant, upload time and expiry its user metadata
 * (`x-amz-meta-tenant`, `-upload-time`, `-expires-at`, unix seconds).
 * Uploads stream through the SDK's Upload: one PUT below `partSizeBytes`,
 * multipart above it, never more than a few parts in memory. Downloads stream the GET's body.
 */
export class S3FileStore implements FileStore {
  readonly kind = "s3";
  readonly limits: FileStoreLimits;
  readonly records: S3RecordStore;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly uploadConcurrency: number;

  constructor(
    readonly options: S3FileStoreOptions,
    readonly client: S3Client = createS3Client(options),
  ) {
    this.limits = { maxFileBytes: options.maxFileBytes, ttlSeconds: options.ttlSeconds };
    this.prefix = options.prefix ?? "";
    // S3 refuses parts under 5 MiB (but the last).
    this.partSize = Math.max(5 * MB, options.partSizeBytes ?? 16 * MB);
    this.uploadConcurrency = Math.max(1, options.uploadConcurrency ?? 2);
    this.records = new S3RecordStore(client, options.bucket, this.prefix, (error) => this.unavailable(error));
  }

  async save(source: FileSource, filename: string, owner: FileAccess): Promise<StoredFile> {
    const fileId = randomUUID();
    const uploadTime = new Date();
    const name = cleanFilename(filename);
    let size = 0;
    let tooLarge = false;
    let sourceError: unknown;
    const { maxFileBytes } = this.limits;
    async function* counted(): AsyncGenerator<Uint8Array> {
      try {
        for await (const chunk of source instanceof Uint8Array ? [source] : source) {
          size += chunk.length;
          if (size > maxFileBytes) {
            tooLarge = true;
            if (!(source instanceof Uint8Array)) (source as Readable).destroy?.();
            throw fileTooLarge(maxFileBytes);
          }
          yield chunk;
        }
      } catch (error) {
        sourceError ??= error;
        throw error;
      }
    }
    const upload = new Upload({
      client: this.client,
      partSize: this.partSize,
      queueSize: this.uploadConcurrency,
      leavePartsOnError: false,
      params: {
        Bucket: this.options.bucket,
        Key: this.key(fileId),
        Body: Readable.from(counted(), { objectMode: false }),
        ContentType: "application/octet-stream",
        ContentDisposition: contentDisposition(name),
        Metadata: {
          "upload-time": uploadTime.toISOString(),
          "expires-at": String(Math.floor(uploadTime.getTime() / 1000) + this.limits.ttlSeconds),
          ...(owner.tenant === undefined ? {} : { tenant: encodeURIComponent(owner.tenant) }),
        },
      },
    });
    try {
      await upload.done();
    } catch (error) {
      // Nothing of a refused or failed upload may stay: the SDK aborts a multipart upload, a single PUT never completed.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.key(fileId) })).catch(() => {});
      if (tooLarge) throw fileTooLarge(maxFileBytes);
      // The upload itself failed (a client that went away, say): not the store's fault.
      if (sourceError !== undefined) throw sourceError;
      throw this.unavailable(error);
    }
    return {
      file_id: fileId,
      filename: name,
      size_bytes: size,
      upload_time: uploadTime.toISOString(),
      ...(owner.tenant === undefined ? {} : { tenant: owner.tenant }),
    };
  }

  async metadata(fileId: string, access: FileAccess): Promise<StoredFile> {
    if (!FILE_ID.test(fileId)) throw fileNotFound(fileId);
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.key(fileId) })).catch((error) => {
      throw this.translate(fileId, error);
    });
    return this.check(fileId, head, access);
  }

  async read(fileId: string, access: FileAccess): Promise<Buffer> {
    const { stream } = await this.stream(fileId, access);
    return readBody(stream, (error) => this.unavailable(error));
  }

  async stream(fileId: string, access: FileAccess): Promise<{ metadata: StoredFile; stream: Readable }> {
    if (!FILE_ID.test(fileId)) throw fileNotFound(fileId);
    // One GET: its headers carry the metadata, so a file deleted meanwhile is a 404 before the first byte.
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(fileId) })).catch((error) => {
      throw this.translate(fileId, error);
    });
    const body = object.Body as Readable;
    try {
      return { metadata: await this.check(fileId, object, access), stream: body };
    } catch (error) {
      body.destroy();
      throw error;
    }
  }

  async list(access: FileAccess): Promise<StoredFile[]> {
    const files: StoredFile[] = [];
    const ids = (await this.listObjects()).filter((object) => !this.expiredByAge(object.lastModified)).map((object) => object.fileId);
    await forEachLimited(ids, LIST_CONCURRENCY, async (fileId) => {
      try {
        files.push(await this.metadata(fileId, access));
      } catch (error) {
        if (!FileNotFoundError.isInstance(error)) throw error;
      }
    });
    return files.sort((a, b) => a.upload_time.localeCompare(b.upload_time));
  }

  async delete(fileId: string, access: FileAccess): Promise<void> {
    await this.metadata(fileId, access);
    await this.remove(fileId);
  }

  /**
   * Deletes the files whose time is up, judged by the listing's LastModified
   * (never earlier than the upload time, so nothing unexpired goes; those
   * within seconds of it by their own upload time), and
   * aborts multipart uploads a crashed replica left for over an hour.
   * Reads check each file's own expiry, so one the purge has not reached yet
   * is already "not found". Every replica may run this at once: deleting an
   * object another replica just deleted succeeds.
   */
  async purgeExpired(): Promise<number> {
    const objects = await this.listObjects();
    const expired = objects.filter((object) => this.expiredByAge(object.lastModified));
    // LastModified is rounded to the second: what is close to its time is judged by its own upload time.
    const close = objects.filter((object) => !expired.includes(object) && this.expiredByAge(object.lastModified, -2 * CLOCK_SLACK_MS));
    let purged = expired.length;
    await forEachLimited(expired, LIST_CONCURRENCY, (object) => this.remove(object.fileId));
    await forEachLimited(close, LIST_CONCURRENCY, async (object) => {
      try {
        await this.metadata(object.fileId, ALL_TENANTS);
      } catch (error) {
        if (!FileNotFoundError.isInstance(error)) throw error;
        purged++;
      }
    });
    await this.abortAbandonedUploads().catch(() => {});
    return purged + (await this.records.purgeExpired());
  }

  async totalBytes(access: FileAccess): Promise<number> {
    if (access.tenant === undefined) {
      // Sizes come with the listing: no HEAD per file.
      return (await this.listObjects())
        .filter((object) => !this.expiredByAge(object.lastModified))
        .reduce((sum, object) => sum + object.size, 0);
    }
    return (await this.list(access)).reduce((sum, file) => sum + file.size_bytes, 0);
  }

  async health(): Promise<FileStoreHealth> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: this.describe(error) };
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async check(
    fileId: string,
    object: { Metadata?: Record<string, string>; ContentLength?: number; ContentDisposition?: string; LastModified?: Date },
    access: FileAccess,
  ): Promise<StoredFile> {
    const meta = object.Metadata ?? {};
    const uploadTime = meta["upload-time"] ?? object.LastModified?.toISOString() ?? new Date(0).toISOString();
    const expiresAt = Number(meta["expires-at"] ?? Number.POSITIVE_INFINITY);
    if (isExpired(uploadTime, this.limits.ttlSeconds) || expiresAt * 1000 <= Date.now()) {
      await this.remove(fileId).catch(() => {});
      throw fileNotFound(fileId);
    }
    const tenant = meta.tenant === undefined ? undefined : decodeURIComponent(meta.tenant);
    if (!mayAccess(access, tenant)) throw fileNotFound(fileId);
    return {
      file_id: fileId,
      filename: filenameOf(object.ContentDisposition),
      size_bytes: object.ContentLength ?? 0,
      upload_time: uploadTime,
      ...(tenant === undefined ? {} : { tenant }),
    };
  }

  private async listObjects(): Promise<{ fileId: string; size: number; lastModified: Date | undefined }[]> {
    const objects: { fileId: string; size: number; lastModified: Date | undefined }[] = [];
    let token: string | undefined;
    do {
      const page = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.prefix, ContinuationToken: token }))
        .catch((error) => {
          throw this.unavailable(error);
        });
      for (const object of page.Contents ?? []) {
        const fileId = object.Key?.slice(this.prefix.length) ?? "";
        // Only our own objects: another tool's keys under the same prefix are left alone.
        if (FILE_ID.test(fileId)) objects.push({ fileId, size: object.Size ?? 0, lastModified: object.LastModified });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  /** Surely expired by the listing's LastModified (a second later than the upload time, to be safe), `slackMs` earlier. */
  private expiredByAge(lastModified: Date | undefined, slackMs = 0): boolean {
    if (lastModified === undefined) return false;
    return isExpired(new Date(lastModified.getTime() + CLOCK_SLACK_MS + slackMs).toISOString(), this.limits.ttlSeconds);
  }

  private async abortAbandonedUploads(): Promise<void> {
    const uploads = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.options.bucket, Prefix: this.prefix }));
    for (const upload of uploads.Uploads ?? []) {
      if (!upload.Initiated || Date.now() - upload.Initiated.getTime() < ABANDONED_UPLOAD_MS) continue;
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: upload.Key, UploadId: upload.UploadId }))
        .catch(() => {});
    }
  }

  private async remove(fileId: string): Promise<void> {
    // S3 answers 204 for a key that is already gone, so two replicas removing one file both succeed.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.key(fileId) })).catch((error) => {
      if (statusOf(error) === 404) return;
      throw this.unavailable(error);
    });
  }

  private key(fileId: string): string {
    return `${this.prefix}${fileId}`;
  }

  private translate(fileId: string, error: unknown): Error {
    return statusOf(error) === 404 ? fileNotFound(fileId, error) : this.unavailable(error);
  }

  /** The store failed or is unreachable: 503, naming what to check. */
  private unavailable(error: unknown): Error {
    return new BackendUnavailableError({ message: `The file store is unavailable: ${this.describe(error)}`, cause: error });
  }

  private describe(error: unknown): string {
    const where = `bucket ${JSON.stringify(this.options.bucket)}${this.options.endpoint ? ` at ${this.options.endpoint}` : ""}`;
    const status = statusOf(error);
    const name = (error as Error)?.name ?? "Error";
    const reason =
      status === 404
        ? "no such bucket (S3_BUCKET)"
        : status === 403 || name === "CredentialsProviderError"
          ? `access denied (check the AWS credentials): ${(error as Error).message}`
          : `${name}: ${(error as Error)?.message || `HTTP ${status ?? "error"}`} (check S3_ENDPOINT and S3_REGION)`;
    return `${where}: ${reason}`;
  }
}

/**
 * A client that works with S3-compatible stores as well as AWS: checksums only
 * when an operation requires them (Swift and older MinIO refuse the
 * `aws-chunked` uploads the SDK otherwise sends), and short connect timeouts so an
 * unreachable store is reported in seconds.
 */
export function createS3Client(options: Pick<S3FileStoreOptions, "endpoint" | "region" | "forcePathStyle" | "credentials">): S3Client {
  return new S3Client({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 120_000 },
  });
}

function contentDisposition(filename: string): string {
  return `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

function filenameOf(disposition: string | undefined): string {
  const match = /filename\*=UTF-8''([^;]*)/i.exec(disposition ?? "");
  if (!match?.[1]) return "file";
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return "file";
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
