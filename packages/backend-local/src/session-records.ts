import { mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SessionRecord } from "@code-interpreter/core/engine";
import { isSessionId } from "@code-interpreter/core/sandbox";

/** A local session: a directory `<stateDir>/sessions/<id>` with its record (session.json) and its workspace. */
export interface LocalSession extends SessionRecord {
  /** Unix seconds. */
  createdAt: number;
}

/** A warm session directory of the session pool: no session until claimed; removed past `expiresAt` (unix seconds). */
export interface WarmSessionDir {
  id: string;
  expiresAt: number;
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
}

/** The sessions' records on disk: what survives a server restart. */
export class SessionRecords {
  constructor(readonly sessionsDir: string) {}

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
    await writeAtomically(join(this.dir(warm.id), WARM_MARKER), JSON.stringify({ id: warm.id, expires_at: warm.expiresAt }));
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
    };
    await writeAtomically(this.recordPath(session.id), JSON.stringify(record));
  }

  /** The session's record, or undefined when it has none (or none that reads). */
  async read(sessionId: string): Promise<LocalSession | undefined> {
    if (!isSessionId(sessionId)) return undefined;
    try {
      const record = JSON.parse(await readFile(this.recordPath(sessionId), "utf8")) as StoredRecord;
      if (record.id !== sessionId || typeof record.expires_at !== "number") return undefined;
      return { id: record.id, expiresAt: record.expires_at, createdAt: record.created_at, tenant: record.tenant, ended: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /** Every session (see `inventory`). */
  async list(): Promise<LocalSession[]> {
    return (await this.inventory()).sessions;
  }

  /**
   * Every session directory: one with a record is a session; one with only
   * the warm marker waits in a session pool; one with neither is what a crash
   * mid-create leaves, listed as an expired session.
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
      const session = await this.read(id);
      const warm = session ? undefined : await this.readWarm(id);
      if (warm) inventory.unclaimed.push(warm);
      else inventory.sessions.push(session ?? { id, expiresAt: 0, createdAt: 0, ended: false });
    }
    return inventory;
  }

  /** The warm marker of a directory without a record; a crash before its expiry was written leaves it expired. */
  private async readWarm(sessionId: string): Promise<WarmSessionDir | undefined> {
    try {
      const marker = JSON.parse(await readFile(join(this.dir(sessionId), WARM_MARKER), "utf8")) as { expires_at?: unknown };
      return { id: sessionId, expiresAt: typeof marker.expires_at === "number" ? marker.expires_at : 0 };
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
