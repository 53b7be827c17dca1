import type { FileAccess } from "@code-interpreter/files";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Env } from "../env.js";
import type { KeyRing, Principal } from "./key-ring.js";

/** Routes anyone may call: liveness and the API description. */
const PUBLIC = [/^\/health$/, /^\/openapi\.json$/, /^\/docs(\/[^/]*)?$/];
/** Routes that span every tenant, for operators: an admin key only. */
const ADMIN_ONLY = [/^\/metrics$/];

/**
 * Requires `Authorization: Bearer <key>` when keys are configured, and puts the
 * key's principal on the context. With no keys the server is one tenant and
 * every request passes (start-up then keeps it on loopback).
 */
export function authenticate(keys: KeyRing) {
  return createMiddleware<Env>(async function authenticateMiddleware(c, next) {
    if (keys.size === 0 || PUBLIC.some((pattern) => pattern.test(c.req.path))) return next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const principal = match ? keys.authenticate(match[1] as string) : undefined;
    if (!principal) {
      const detail = match ? "The API key is not valid" : "An API key is required: send Authorization: Bearer <key>";
      return c.json({ detail }, 401, { "WWW-Authenticate": 'Bearer realm="code-interpreter"' });
    }
    if (!principal.admin && ADMIN_ONLY.some((pattern) => pattern.test(c.req.path))) {
      return c.json({ detail: "This route needs an admin key (ADMIN_API_KEYS)" }, 403);
    }
    c.set("principal", principal);
    return next();
  });
}

/** The caller, or undefined on a server without keys. */
export function principalOf(c: Context<Env>): Principal | undefined {
  return c.get("principal");
}

/**
 * What the caller may see and whom what it makes belongs to: its own tenant's
 * sessions and files; everything for an admin or a server without keys.
 */
export function accessOf(c: Context<Env>): { owner: FileAccess; view: FileAccess } {
  const principal = principalOf(c);
  return {
    owner: { tenant: principal?.tenant },
    view: { tenant: principal && !principal.admin ? principal.tenant : undefined },
  };
}
