import { basename } from "node:path";
import type { Readable } from "node:stream";
import { type FileMetadata, FileNotFoundError, PayloadTooLargeError } from "@code-interpreter/core";
import type { RecordStore } from "./record-store.js";

/** A stored file's metadata, with the tenant that stored it (kept out of API answers). */
export interface StoredFile extends FileMetadata {
  tenant?: string;
}

/**
 * Whose files a call may see: only `tenant`'s when it is set, every file when
 * it is `undefined` (a single-tenant server, or an admin). The key is
 * required, so a call that forgets to say whose files it means does not
 * compile, rather than silently seeing everything. Another tenant's file is
 * "not found", never "forbidden".
 */
export interface FileAccess {
  tenant: string | undefined;
}

/** Sees every tenant's files: for a single-tenant server, an admin, or the reaper. */
export const ALL_TENANTS: FileAccess = Object.freeze({ tenant: undefined });

/** Limits every store enforces. */
export interface FileStoreLimits {
  /** Largest file accepted, in bytes. @default MAX_FILE_SIZE_MB */
  maxFileBytes: number;
  /** Files older than this are gone. @default FILE_TTL_SEC */
  ttlSeconds: number;
}

/** Whether a store can serve requests now, and why not. */
export interface FileStoreHealth {
  ok: boolean;
  detail?: string;
}

/** What a file's bytes can be given as. */
export type FileSource = AsyncIterable<Uint8Array> | Uint8Array;

/**
 * Where uploaded files and execution outputs live: a directory on this host
 * (`DirectoryFileStore`) or an S3-compatible object store (`S3FileStore`),
 * which several replicas can share. Every store passes the contract suite in
 * `@code-interpreter/files/testing`.
 */
export interface FileStore {
  /** `dir` or `s3`, for logs and /health. */
  readonly kind: string;
  readonly limits: FileStoreLimits;
  /**
   * Saves a file from a stream, counting bytes as they arrive: past
   * `maxFileBytes` it stops reading, removes what it wrote and throws
   * PayloadTooLargeError. The file belongs to `owner.tenant`.
   */
  save(source: FileSource, filename: string, owner: FileAccess): Promise<StoredFile>;
  /** Metadata of a stored, unexpired file the caller may see; FileNotFoundError otherwise. */
  metadata(fileId: string, access: FileAccess): Promise<StoredFile>;
  /** The whole file in memory (for staging into a sandbox). */
  read(fileId: string, access: FileAccess): Promise<Buffer>;
  /** The file as a stream (for downloads); a file that is gone is FileNotFoundError before the first byte. */
  stream(fileId: string, access: FileAccess): Promise<{ metadata: StoredFile; stream: Readable }>;
  /** Every stored, unexpired file the caller may see, oldest first. */
  list(access: FileAccess): Promise<StoredFile[]>;
  /** Deletes a file; FileNotFoundError if the caller sees none. */
  delete(fileId: string, access: FileAccess): Promise<void>;
  /** Deletes expired files (and what interrupted uploads left) and expired records, and returns how many of both. */
  purgeExpired(): Promise<number>;
  /** The server's own records (idempotency, executions), in the same place as the files but never among them. */
  readonly records: RecordStore;
  /** Bytes of the stored files the caller may see. */
  totalBytes(access: FileAccess): Promise<number>;
  /** Whether the store answers (a cheap probe, for /health). */
  health(): Promise<FileStoreHealth>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** The ids stores hand out: random UUIDs. Anything else is "not found" before any lookup. */
export const FILE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function fileNotFound(fileId: string, cause?: unknown): FileNotFoundError {
  return new FileNotFoundError({ message: `File ${JSON.stringify(fileId)} not found`, ...(cause === undefined ? {} : { cause }) });
}

export function fileTooLarge(maxFileBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError({ message: `File is larger than the limit of ${formatBytes(maxFileBytes)} (MAX_FILE_SIZE_MB)` });
}

/** True when a file uploaded at `uploadTime` is past `ttlSeconds`. */
export function isExpired(uploadTime: string, ttlSeconds: number, now = Date.now()): boolean {
  return Date.parse(uploadTime) + ttlSeconds * 1000 <= now;
}

/** True when `access` may see a file owned by `tenant`. */
export function mayAccess(access: FileAccess, tenant: string | undefined): boolean {
  return access.tenant === undefined || access.tenant === tenant;
}

/** A display name: the last path segment, without control characters, never empty. */
export function cleanFilename(filename: string): string {
  const name = [...basename(filename.replaceAll("\\", "/"))]
    .filter((character) => character.charCodeAt(0) >= 0x20 && character !== "\u007f")
    .join("")
    .slice(0, 255);
  return name === "" || name === "." || name === ".." ? "file" : name;
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB` : `${bytes} bytes`;
}
