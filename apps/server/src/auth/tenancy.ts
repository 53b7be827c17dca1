import { type Backend, type SessionInfo, SessionNotFoundError, TooManyRequestsError } from "@code-interpreter/core";
import type { FileStore } from "@code-interpreter/files";
import type { Context } from "hono";
import type { Env } from "../env.js";
import { ConcurrencyLimit } from "../middleware/concurrency-limit.js";
import { accessOf, principalOf } from "./authenticate.js";

export interface TenantLimits {
  /** @default TENANT_MAX_CONCURRENT_EXECUTIONS */
  maxConcurrentExecutions: number;
  /** @default TENANT_MAX_SESSIONS */
  maxSessions: number;
  /** @default TENANT_MAX_STORED_MB, in bytes */
  maxStoredBytes: number;
}

/** Session owners remembered (a session's tenant never changes); bounded so it cannot grow without end. */
const OWNER_CACHE_SIZE = 10_000;

/**
 * Keeps tenants apart and within their limits. Another tenant's session is
 * "not found" (404), exactly like one that does not exist. Ownership is read
 * from the sandbox itself (its tenant label), so every replica agrees.
 */
export class Tenancy {
  private readonly executions = new Map<string, ConcurrencyLimit>();
  private readonly owners = new Map<string, string | undefined>();

  /**
   * `snapshotBytes`: what a tenant's paused sessions' snapshots take (SessionSnapshots.usage, read from the
   * store's records), counted with its files; left out, snapshots count nothing.
   */
  constructor(
    private readonly backend: Backend,
    private readonly store: FileStore,
    readonly limits: TenantLimits,
    private readonly snapshotBytes: (tenant: string) => Promise<number> = async () => 0,
  ) {}

  /** The session, if the caller may use it; SessionNotFoundError otherwise. */
  async session(c: Context<Env>, sessionId: string): Promise<SessionInfo> {
    const session = await this.backend.getSession(sessionId);
    this.remember(session.id, session.tenant);
    this.assertVisible(c, sessionId, session.tenant);
    return session;
  }

  /** Throws SessionNotFoundError unless the caller may use the session (cheap after the first call). */
  async assertOwns(c: Context<Env>, sessionId: string): Promise<void> {
    const { view } = accessOf(c);
    if (view.tenant === undefined) return;
    if (!this.owners.has(sessionId)) await this.session(c, sessionId);
    this.assertVisible(c, sessionId, this.owners.get(sessionId));
  }

  /** The sessions the caller may see. */
  visible(c: Context<Env>, sessions: SessionInfo[]): SessionInfo[] {
    const { view } = accessOf(c);
    return view.tenant === undefined ? sessions : sessions.filter((session) => session.tenant === view.tenant);
  }

  /** Takes one of `tenant`'s execution slots (none to take without a tenant); the release must be called when the execution ends. */
  acquireExecution(tenant: string | undefined): () => void {
    if (tenant === undefined) return () => {};
    let limit = this.executions.get(tenant);
    if (!limit) {
      limit = new ConcurrencyLimit(this.limits.maxConcurrentExecutions, "TENANT_MAX_CONCURRENT_EXECUTIONS");
      this.executions.set(tenant, limit);
    }
    return limit.acquire();
  }

  /** 429 when the caller already has TENANT_MAX_SESSIONS live sessions. */
  async assertRoomForSession(c: Context<Env>): Promise<void> {
    const tenant = principalOf(c)?.tenant;
    if (tenant === undefined) return;
    const live = (await this.backend.listSessions()).filter((session) => session.tenant === tenant).length;
    if (live >= this.limits.maxSessions) {
      throw new TooManyRequestsError({
        message: `Tenant ${tenant} has ${live} live sessions (TENANT_MAX_SESSIONS=${this.limits.maxSessions}); delete one or wait for one to expire`,
        retryAfterSeconds: 30,
      });
    }
  }

  /** 429 when the caller's stored files and paused sessions' snapshots already take TENANT_MAX_STORED_MB. */
  async assertRoomForFiles(c: Context<Env>): Promise<void> {
    const tenant = principalOf(c)?.tenant;
    if (tenant === undefined) return;
    const [files, snapshots] = await Promise.all([this.store.totalBytes({ tenant }), this.snapshotBytes(tenant)]);
    const stored = files + snapshots;
    if (stored >= this.limits.maxStoredBytes) {
      throw new TooManyRequestsError({
        message: `Tenant ${tenant} stores ${stored} bytes of files and snapshots (TENANT_MAX_STORED_MB=${this.limits.maxStoredBytes / 1024 / 1024}); delete files or paused sessions, or wait for them to expire`,
        retryAfterSeconds: 60,
      });
    }
  }

  /** Forgets a deleted session's owner. */
  forget(sessionId: string): void {
    this.owners.delete(sessionId);
  }

  private remember(sessionId: string, tenant: string | undefined): void {
    if (this.owners.size >= OWNER_CACHE_SIZE) this.owners.delete(this.owners.keys().next().value as string);
    this.owners.set(sessionId, tenant);
  }

  private assertVisible(c: Context<Env>, sessionId: string, tenant: string | undefined): void {
    const { view } = accessOf(c);
    if (view.tenant !== undefined && tenant !== view.tenant) {
      throw new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} not found` });
    }
  }
}
