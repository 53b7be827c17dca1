import { randomUUID } from "node:crypto";
import type { SessionInfo } from "../backend.js";

/** Label every sandbox carries, so this service only ever touches its own. */
export const APP_LABEL = { key: "app", value: "code-interpreter" } as const;
export const COMPONENT_LABEL_KEY = "component";
/** Label (Docker) or annotation (Kubernetes) holding a session's expiry, unix seconds. */
export const EXPIRES_AT_KEY = "code-interpreter.expires-at";
/** Label (Docker) or annotation (Kubernetes) naming the tenant a session belongs to. */
export const TENANT_KEY = "code-interpreter.tenant";
export const EXEC_PREFIX = "code-exec-";
export const SESSION_PREFIX = "code-session-";

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const SESSION_ID = new RegExp(`^${SESSION_PREFIX}${UUID}$`);

export function newExecName(): string {
  return `${EXEC_PREFIX}${randomUUID()}`;
}

export function newSessionId(): string {
  return `${SESSION_PREFIX}${randomUUID()}`;
}

/** True only for ids of the exact form `code-session-<uuid>`. */
export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

/** The labels of a sandbox of the given component. */
export function sandboxLabels(component: "exec" | "session"): Record<string, string> {
  return { [APP_LABEL.key]: APP_LABEL.value, [COMPONENT_LABEL_KEY]: component };
}

/** Now, in unix seconds. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** A session's description, without a `tenant` key when it has none (so equal sessions compare equal). */
export function sessionInfo(session: { id: string; expiresAt: number; tenant?: string | undefined }): SessionInfo {
  return session.tenant === undefined
    ? { id: session.id, expiresAt: session.expiresAt }
    : { id: session.id, expiresAt: session.expiresAt, tenant: session.tenant };
}
