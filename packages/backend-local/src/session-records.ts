import { readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isSessionId, type SessionRecord } from "@code-interpreter/core";

/** A local session: a directory `<stateDir>/sessions/<id>` with its record (session.json) and its workspace. */
export interface LocalSession extends SessionRecord {
  /** Unix seconds. */
  createdAt: number;
}

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

  /** Writes the record in one rename, so a reader never sees half of it. */
  async write(session: LocalSession): Promise<void> {
    const record: StoredRecord = {
      id: session.id,
      created_at: session.createdAt,
      expires_at: session.expiresAt,
      ...(session.tenant === undefined ? {} : { tenant: session.tenant }),
    };
    const path = this.recordPath(session.id);
    const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, JSON.stringify(record), { mode: 0o600 });
    await rename(temporary, path);
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

  /** Every session directory; one without a readable record is what a crash mid-create leaves: it is expired. */
  async list(): Promise<LocalSession[]> {
    let names: string[];
    try {
      names = await readdir(this.sessionsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const sessions: LocalSession[] = [];
    for (const id of names.filter(isSessionId)) {
      sessions.push((await this.read(id)) ?? { id, expiresAt: 0, createdAt: 0, ended: false });
    }
    return sessions;
  }

  private recordPath(sessionId: string): string {
    return join(this.sessionsDir, sessionId, "session.json");
  }
}
