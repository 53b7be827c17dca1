import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CREATED_GRACE_SECONDS, type SessionRecord } from "@code-interpreter/core/engine";
import { isOfRuntime, isSessionId, RUNTIME_LABEL_KEY, type SandboxRuntime } from "@code-interpreter/core/sandbox";

/** A local session: a directory `<stateDir>/sessions/<id>` with its record (session.json) and its workspace. */
export interface LocalSession extends SessionRecord {
  /** Unix seconds. */
  createdAt: number;
}

/** A warm session directory of the session pool: no session until claimed; removed past `expiresAt` (unix seconds). */
export interface WarmSessionDir {
  id: string;
  expiresAt: number;
  /** The pid of the server that made it (and holds it in its pool); absent in markers of earlier versions. */
  serverPid?: number;
}

/** What the sessions directory holds: sessions, and warm directories nobody has claimed (yet). */
export interface SessionsInventory {
  sessions: LocalSession[];
  unclaimed: WarmSessionDir[];
}

/** The session's record in its directory. */
export const SESSION_RECORD = "session.json";

/** Marks a warm session directory (next to where session.json will be, out of every sandbox's reach). */
export const WARM_MARKER = "warm.json";

/** session.json, as every version of this backend writes it (a restarted server reads its predecessor's). */
interface StoredRecord {
  id: string;
  expires_at: number;
  created_at: number;
  tenant?: string;
  /** The runtime its sandboxes run on; absent (records made before runtimes existed): `default`. */
  [RUNTIME_LABEL_KEY]?: string;
}

/** What a session directory holds, as read: a record or warm marker of this runtime, or of another one. */
type DirectoryState =
  | { kind: "session"; session: LocalSession }
  | { kind: "warm"; warm: WarmSessionDir }
  | { kind: "other runtime" }
  | { kind: "none" };

/**
 * The sessions' records on disk: what survives a server restart. Each record
 * and warm marker names its runtime: a backend sees only those of its own
 * (two backends of one server, one per runtime, share the state directory).
 */
export class SessionRecords {
  constructor(
    readonly sessionsDir: string,
    readonly runtime: SandboxRuntime = "default",
  ) {}

  /** The runtime key of a record or marker: none for `default`, so its records stay as every earlier server wrote them. */
  private runtimeField(): { [RUNTIME_LABEL_KEY]?: string } {
    return this.runtime === "default" ? {} : { [RUNTIME_LABEL_KEY]: this.runtime };
  }

  /** The session's directory. */
  dir(sessionId: string): string {
    return join(this.sessionsDir, sessionId);
  }

  /** The host directory its sandboxes see as /workspace. */
  workspaceDir(sessionId: string): string {
    return join(this.sessionsDir, sessionId, "workspace");
  }

  /**
   * Makes the directory of a warm session, marked with its age limit: it has
   * no record (findSession does not see it) until `claim` writes one.
   */
  async makeWarm(warm: WarmSessionDir): Promise<void> {
    await mkdir(this.dir(warm.id), { mode: 0o711 });
    await writeAtomically(
      join(this.dir(warm.id), WARM_MARKER),
      JSON.stringify({ id: warm.id, expires_at: warm.expiresAt, server_pid: process.pid, ...this.runtimeField() }),
    );
  }

  /** The warm directory becomes the session: its record first (from then on it is one), then the marker goes. */
  async claim(session: LocalSession): Promise<void> {
    await this.write(session);
    await unlink(join(this.dir(session.id), WARM_MARKER)).catch(() => {});
  }

  /** Writes the record in one rename, so a reader never sees half of it. */
  async write(session: LocalSession): Promise<void> {
    const record: StoredRecord = {
      id: session.id,
      created_at: session.createdAt,
      expires_at: session.expiresAt,
      ...(session.tenant === undefined ? {} : { tenant: session.tenant }),
      ...this.runtimeField(),
    };
    await writeAtomically(this.recordPath(session.id), JSON.stringify(record));
  }

  /** The session's record, or undefined when it has none (or none that reads, or one of another runtime). */
  async read(sessionId: string): Promise<LocalSession | undefined> {
    if (!isSessionId(sessionId)) return undefined;
    const record = await this.readRecord(sessionId);
    return record === undefined || record === "other runtime" ? undefined : record;
  }

  private async readRecord(sessionId: string): Promise<LocalSession | "other runtime" | undefined> {
    try {
      const record = JSON.parse(await readFile(this.recordPath(sessionId), "utf8")) as StoredRecord;
      if (record.id !== sessionId || typeof record.expires_at !== "number") return undefined;
      if (!isOfRuntime(record[RUNTIME_LABEL_KEY], this.runtime)) return "other runtime";
      return { id: record.id, expiresAt: record.expires_at, createdAt: record.created_at, tenant: record.tenant, ended: false };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR" || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /** Every session (see `inventory`). */
  async list(): Promise<LocalSession[]> {
    return (await this.inventory()).sessions;
  }

  /**
   * Every session directory: one with a record is a session; one with only
   * the warm marker waits in a session pool; one with neither, for longer
   * than CREATED_GRACE_SECONDS, is what a crash mid-create leaves, listed as
   * an expired session (a younger one is being made right now: a reaper
   * must not take it). Directories of another runtime are not listed at all.
   */
  async inventory(): Promise<SessionsInventory> {
    let names: string[];
    try {
      names = await readdir(this.sessionsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { sessions: [], unclaimed: [] };
      throw error;
    }
    const inventory: SessionsInventory = { sessions: [], unclaimed: [] };
    for (const id of names.filter(isSessionId)) {
      const state = await this.state(id);
      if (state.kind === "session") inventory.sessions.push(state.session);
      else if (state.kind === "warm") inventory.unclaimed.push(state.warm);
      else if (state.kind === "none" && (await this.leftBehind(id))) {
        inventory.sessions.push({ id, expiresAt: 0, createdAt: 0, ended: false });
      }
    }
    return inventory;
  }

  private async state(sessionId: string): Promise<DirectoryState> {
    const record = await this.readRecord(sessionId);
    if (record === "other runtime") return { kind: "other runtime" };
    if (record) return { kind: "session", session: record };
    const warm = await this.readWarm(sessionId);
    if (warm === "other runtime") return { kind: "other runtime" };
    if (warm) return { kind: "warm", warm };
    // A claim writes the record, then removes the marker: a marker gone since the record was read means a record now.
    const claimed = await this.readRecord(sessionId);
    if (claimed === "other runtime") return { kind: "other runtime" };
    return claimed ? { kind: "session", session: claimed } : { kind: "none" };
  }

  /** Whether a directory with neither record nor marker was left by a crash: untouched for longer than a create takes. */
  private async leftBehind(sessionId: string): Promise<boolean> {
    try {
      return (await stat(this.dir(sessionId))).mtimeMs / 1000 + CREATED_GRACE_SECONDS < Date.now() / 1000;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  /** The warm marker of a directory without a record; a crash before its expiry was written leaves it expired. */
  private async readWarm(sessionId: string): Promise<WarmSessionDir | "other runtime" | undefined> {
    try {
      const marker = JSON.parse(await readFile(join(this.dir(sessionId), WARM_MARKER), "utf8")) as {
        expires_at?: unknown;
        server_pid?: unknown;
        [RUNTIME_LABEL_KEY]?: string;
      };
      if (!isOfRuntime(marker[RUNTIME_LABEL_KEY], this.runtime)) return "other runtime";
      const serverPid = typeof marker.server_pid === "number" ? { serverPid: marker.server_pid } : {};
      return { id: sessionId, expiresAt: typeof marker.expires_at === "number" ? marker.expires_at : 0, ...serverPid };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
      if (error instanceof SyntaxError) return { id: sessionId, expiresAt: 0 };
      throw error;
    }
  }

  private recordPath(sessionId: string): string {
    return join(this.sessionsDir, sessionId, SESSION_RECORD);
  }
}

/** Writes a file in one rename, so a reader never sees half of it. */
async function writeAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, path);
}
