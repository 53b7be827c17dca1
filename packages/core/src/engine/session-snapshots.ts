import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { InvalidRequestError, PayloadTooLargeError } from "../errors.js";
import { isSessionId } from "../sandbox/names.js";
import type { SandboxRuntime } from "../sandbox/runtimes.js";
import { SessionLifecycle } from "./session-lifecycle.js";

/**
 * Where snapshots are kept: named records beside the stored files, never
 * among them. The file store's `records` (`@code-interpreter/files`, both the
 * directory and the S3 store) is one; any replica sharing the store sees them.
 */
export interface SnapshotStorage {
  /** With `ifAbsent`, stores only when no unexpired record has that name, and says whether it stored (create-if-absent). */
  put(name: string, value: Uint8Array | string, options: { ttlSeconds: number; ifAbsent?: boolean }): Promise<boolean>;
  /** The record's bytes, or undefined when there is none (or it expired). */
  get(name: string): Promise<Buffer | undefined>;
  /** Deleting a missing one succeeds. */
  delete(name: string): Promise<void>;
  /** Names that start with `prefix`. */
  list(prefix: string): Promise<string[]>;
}

/** What a pause kept, as answers show it. */
export interface SessionSnapshot {
  /** Size of the stored image (its memory part included), in bytes. */
  bytes: number;
  /** Whether the kernel's memory (its variables) was kept; false: the workspace and writable areas only. */
  memory: boolean;
  /** Unix seconds. */
  createdAt: number;
}

/** A paused session as its snapshot's signed record describes it. */
export interface PausedSession {
  id: string;
  tenant?: string;
  /** The runtime it ran on: only that runtime's backend resumes it. */
  runtime: SandboxRuntime;
  snapshot: SessionSnapshot;
  /** Unix seconds when the snapshot (and so the paused session) is gone. */
  expiresAt: number;
  /** The lifetime it had left when paused: what a resume by a command gives it again. */
  ttlSeconds: number;
}

/** What a driver (or the engine, through the session's runner) hands over to be kept. */
export interface SessionImage {
  /** The workspace (and writable areas) as an uncompressed tar. */
  filesystem: Buffer;
  /**
   * The session's processes (its kernel's variables and imports, its command
   * runner), as the driver's checkpointing runtime saved them (gVisor's
   * `runsc checkpoint`), in the driver's own format; absent: the workspace
   * only, and a resume starts a fresh kernel. Signed and counted with the
   * filesystem (MAX_SNAPSHOT_MB).
   */
  memory?: Buffer;
}

/** A snapshot's image is not the one this server signed: tampered with, or made under another key; never restored (HTTP 422). */
export class SnapshotRefusedError extends InvalidRequestError {
  static override readonly code: string = "SnapshotRefusedError";
}

/** The session is paused: only a resume (or a command, which resumes it) may use it (HTTP 422). */
export class SessionPausedError extends InvalidRequestError {
  static override readonly code: string = "SessionPausedError";
}

export interface SessionSnapshotsOptions {
  storage: SnapshotStorage;
  /** The server's signing key (SNAPSHOT_KEY): every replica that resumes a snapshot needs the one that made it. */
  key: string | Buffer;
  /** How long a paused session is kept (SESSION_SNAPSHOT_TTL_SECONDS). */
  ttlSeconds: number;
  /** Largest image accepted (MAX_SNAPSHOT_MB), in bytes: a larger one is refused and its session keeps running. */
  maxBytes: number;
  /**
   * Whether the tenant may keep this snapshot besides what it keeps already
   * (TENANT_MAX_SNAPSHOTS, TENANT_MAX_STORED_MB): throws (429) when not, and
   * nothing is kept. @default every snapshot is admitted
   */
  admit?: (tenant: string, bytes: number, snapshots: { count: number; bytes: number }) => Promise<void>;
  /** @default seconds of Date.now() */
  now?: () => number;
}

/** The signed record kept beside the image (`snapshots/<id>/record.json`). */
interface StoredRecord {
  version: 1;
  session_id: string;
  tenant: string | null;
  runtime: SandboxRuntime;
  created_at: number;
  expires_at: number;
  ttl_seconds: number;
  memory: boolean;
  /** Both parts together. */
  bytes: number;
  /** Of the filesystem part. */
  sha256: string;
  /** The memory part's size and SHA-256 (`snapshots/<id>/memory.bin`), with `memory: true` only. */
  memory_bytes?: number;
  memory_sha256?: string;
  signature: string;
}

const PREFIX = "snapshots/";

/**
 * Session snapshots (issue 23) in the file store's record area: an image
 * (`snapshots/<id>/filesystem.tar`) and a record naming its session, tenant,
 * runtime, size and SHA-256, signed with an HMAC under the server's key. The
 * record is written last, so a snapshot is there once it is whole; it is
 * verified on every read, and the image against it before a restore: a
 * record or image altered in the store, or signed with another key, is
 * refused, never restored. Snapshots expire with their records (the store's
 * purge removes them).
 */
export class SessionSnapshots {
  private readonly key: Buffer;
  private readonly now: () => number;
  /** `on_expire` records and the lock around pauses and resumes, in the same store. */
  readonly lifecycle: SessionLifecycle;

  constructor(private readonly options: SessionSnapshotsOptions) {
    this.lifecycle = new SessionLifecycle({ storage: options.storage, snapshotTtlSeconds: options.ttlSeconds });
    this.key = typeof options.key === "string" ? Buffer.from(options.key, "utf8") : options.key;
    if (this.key.length < 16) throw new InvalidRequestError({ message: "the snapshot key (SNAPSHOT_KEY) must be at least 16 bytes long" });
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Keeps a paused session's image; over `maxBytes` it is refused (413) and nothing is kept. */
  async save(
    session: { id: string; tenant?: string; runtime: SandboxRuntime; ttlSeconds: number },
    image: SessionImage,
  ): Promise<PausedSession> {
    const memoryBytes = image.memory?.length;
    const bytes = image.filesystem.length + (memoryBytes ?? 0);
    if (bytes > this.options.maxBytes) {
      throw new PayloadTooLargeError({
        message: `the session's snapshot would take ${bytes} bytes, over the limit of ${this.options.maxBytes} (MAX_SNAPSHOT_MB); remove files from its workspace and pause it again (it keeps running)`,
      });
    }
    if (session.tenant !== undefined && this.options.admit) {
      await this.options.admit(session.tenant, bytes, await this.usage(session.tenant));
    }
    const createdAt = this.now();
    const fields: Omit<StoredRecord, "signature"> = {
      version: 1,
      session_id: session.id,
      tenant: session.tenant ?? null,
      runtime: session.runtime,
      created_at: createdAt,
      expires_at: createdAt + this.options.ttlSeconds,
      ttl_seconds: session.ttlSeconds,
      memory: image.memory !== undefined,
      bytes,
      sha256: sha256(image.filesystem),
      ...(image.memory === undefined ? {} : { memory_bytes: memoryBytes, memory_sha256: sha256(image.memory) }),
    };
    const record: StoredRecord = { ...fields, signature: this.sign(fields) };
    const ttl = { ttlSeconds: this.options.ttlSeconds };
    await this.options.storage.put(imageName(session.id), image.filesystem, ttl);
    if (image.memory) await this.options.storage.put(memoryName(session.id), image.memory, ttl);
    await this.options.storage.put(recordName(session.id), JSON.stringify(record), ttl);
    return pausedSession(record);
  }

  /** The paused session with this id on `runtime`, or undefined; a record that fails its signature is refused. */
  async find(sessionId: string, runtime: SandboxRuntime): Promise<PausedSession | undefined> {
    const record = await this.readRecord(sessionId);
    return record && record.runtime === runtime ? pausedSession(record) : undefined;
  }

  /** Every paused session on `runtime` whose record holds (unsigned or expired ones are skipped). */
  async list(runtime: SandboxRuntime): Promise<PausedSession[]> {
    const found = await Promise.all((await this.sessionIds()).map((id) => this.find(id, runtime).catch(() => undefined)));
    return found.filter((session): session is PausedSession => session !== undefined);
  }

  /** How many snapshots `tenant` keeps (on every runtime), and their bytes. */
  async usage(tenant: string): Promise<{ count: number; bytes: number }> {
    const records = await Promise.all((await this.sessionIds()).map((id) => this.readRecord(id).catch(() => undefined)));
    const owned = records.filter((record) => record?.tenant === tenant) as StoredRecord[];
    return { count: owned.length, bytes: owned.reduce((sum, record) => sum + record.bytes, 0) };
  }

  /** The paused session and its image, both verified against the signed record; SnapshotRefusedError otherwise. */
  async load(sessionId: string, runtime: SandboxRuntime): Promise<{ session: PausedSession; image: SessionImage } | undefined> {
    const record = await this.readRecord(sessionId);
    if (!record || record.runtime !== runtime) return undefined;
    const filesystem = await this.options.storage.get(imageName(sessionId));
    if (!filesystem) {
      // Removed meanwhile (a delete removes the record first): no snapshot, rather than a refused one.
      if (!(await this.options.storage.get(recordName(sessionId)))) return undefined;
      throw refused(sessionId, "its image is missing from the store");
    }
    if (!record.memory) {
      if (!matches(filesystem, record.bytes, record.sha256)) throw altered(sessionId, "image");
      return { session: pausedSession(record), image: { filesystem } };
    }
    const memory = await this.options.storage.get(memoryName(sessionId));
    if (!memory) {
      if (!(await this.options.storage.get(recordName(sessionId)))) return undefined;
      throw refused(sessionId, "its memory image is missing from the store");
    }
    const memoryBytes = record.memory_bytes ?? -1;
    if (!matches(filesystem, record.bytes - memoryBytes, record.sha256)) throw altered(sessionId, "image");
    if (!matches(memory, memoryBytes, record.memory_sha256 ?? "")) throw altered(sessionId, "memory image");
    return { session: pausedSession(record), image: { filesystem, memory } };
  }

  /** Removes a snapshot (its record first, so a half-removed one is no snapshot). */
  async remove(sessionId: string): Promise<void> {
    await this.options.storage.delete(recordName(sessionId));
    await Promise.all([this.options.storage.delete(imageName(sessionId)), this.options.storage.delete(memoryName(sessionId))]);
  }

  /** Ids of the sessions with something under the snapshot prefix. */
  private async sessionIds(): Promise<string[]> {
    const names = await this.options.storage.list(PREFIX);
    return [...new Set(names.map((name) => name.slice(PREFIX.length).split("/")[0] as string))].filter((id) => isSessionId(id));
  }

  private async readRecord(sessionId: string): Promise<StoredRecord | undefined> {
    if (!isSessionId(sessionId)) return undefined;
    const bytes = await this.options.storage.get(recordName(sessionId));
    if (!bytes) return undefined;
    let record: StoredRecord;
    try {
      record = JSON.parse(bytes.toString("utf8")) as StoredRecord;
    } catch {
      throw refused(sessionId, "its record is not valid JSON");
    }
    const { signature, ...fields } = record;
    const expected = Buffer.from(this.sign(fields), "hex");
    const given = Buffer.from(typeof signature === "string" ? signature : "", "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected) || fields.session_id !== sessionId) {
      throw refused(
        sessionId,
        "its record is not signed by this server's key (SNAPSHOT_KEY): it was altered, or made by a server with another key",
      );
    }
    return record.expires_at > this.now() ? record : undefined;
  }

  /** HMAC-SHA256 over the record's fields in a fixed order (the memory part's after them, when there is one). */
  private sign(fields: Omit<StoredRecord, "signature">): string {
    const memoryPart = fields.memory ? [fields.memory_bytes ?? null, fields.memory_sha256 ?? null] : [];
    const canonical = JSON.stringify([
      fields.version,
      fields.session_id,
      fields.tenant,
      fields.runtime,
      fields.created_at,
      fields.expires_at,
      fields.ttl_seconds,
      fields.memory,
      fields.bytes,
      fields.sha256,
      ...memoryPart,
    ]);
    return createHmac("sha256", this.key).update(canonical).digest("hex");
  }
}

function recordName(sessionId: string): string {
  return `${PREFIX}${sessionId}/record.json`;
}

function imageName(sessionId: string): string {
  return `${PREFIX}${sessionId}/filesystem.tar`;
}

function memoryName(sessionId: string): string {
  return `${PREFIX}${sessionId}/memory.bin`;
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The bytes have the signed size and SHA-256. */
function matches(bytes: Buffer, size: number, digest: string): boolean {
  const expected = Buffer.from(digest, "hex");
  const actual = createHash("sha256").update(bytes).digest();
  return bytes.length === size && expected.length === actual.length && timingSafeEqual(actual, expected);
}

function altered(sessionId: string, part: string): SnapshotRefusedError {
  return refused(sessionId, `its ${part} is not the one this server signed (it was altered in the store)`);
}

function pausedSession(record: StoredRecord): PausedSession {
  return {
    id: record.session_id,
    ...(record.tenant === null ? {} : { tenant: record.tenant }),
    runtime: record.runtime,
    snapshot: { bytes: record.bytes, memory: record.memory, createdAt: record.created_at },
    expiresAt: record.expires_at,
    ttlSeconds: record.ttl_seconds,
  };
}

function refused(sessionId: string, reason: string): SnapshotRefusedError {
  return new SnapshotRefusedError({
    message: `the snapshot of session ${JSON.stringify(sessionId)} is refused and was not restored: ${reason}`,
  });
}
