import type { Readable } from "node:stream";
import { InvalidRequestError } from "@code-interpreter/core";
import type { FileSource } from "./file-store.js";

/** How long a record lives, and whether it may replace one of the same name. */
export interface RecordOptions {
  /** Seconds until the record is gone (readers see nothing; the purge deletes it). */
  ttlSeconds: number;
  /** Store only when no unexpired record has this name (create-if-absent); `put` then says whether it stored. */
  ifAbsent?: boolean;
}

/**
 * Small named records the server keeps for itself beside the files
 * (idempotency answers, executions and their event logs), in the same
 * store so every replica sees them. They are never files: `list`,
 * `totalBytes` and the files API do not see them. Each record expires on
 * its own TTL; `FileStore.purgeExpired` removes expired ones. Names are
 * `/`-separated segments of `[A-Za-z0-9._-]` (no `.` or `..` segment).
 */
export interface RecordStore {
  /**
   * Stores `value` (bytes, text, or a stream written as it arrives, never
   * held whole) under `name`. With `ifAbsent`, resolves false and stores
   * nothing when an unexpired record of that name exists; otherwise true.
   */
  put(name: string, value: FileSource | string, options: RecordOptions): Promise<boolean>;
  /** The record's bytes, or undefined when there is none (or it expired). */
  get(name: string): Promise<Buffer | undefined>;
  /** The record as a stream (for large ones), or undefined when there is none. */
  stream(name: string): Promise<Readable | undefined>;
  /** Deletes the record; deleting a missing one succeeds. */
  delete(name: string): Promise<void>;
  /** Names of the records that start with `prefix`, sorted (expired ones the purge has not reached may be among them). */
  list(prefix: string): Promise<string[]>;
  /** Deletes expired records and returns how many (the S3 store does the work at most every five minutes: it HEADs each record). */
  purgeExpired(): Promise<number>;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Throws unless `name` is a record name (see RecordStore); a bad name is the caller's bug, never a user's path. */
export function assertRecordName(name: string): string {
  const segments = name.split("/");
  if (name.length > 512 || segments.some((segment) => !SEGMENT.test(segment) || segment === "." || segment === "..")) {
    throw new InvalidRequestError({ message: `Invalid record name ${JSON.stringify(name)}` });
  }
  return name;
}

/** `value` as a FileSource. */
export function recordSource(value: FileSource | string): FileSource {
  return typeof value === "string" ? Buffer.from(value, "utf8") : value;
}
