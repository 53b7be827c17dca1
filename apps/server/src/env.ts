import type { RequestIdVariables } from "hono/request-id";
import type { Principal } from "./auth/key-ring.js";
import type { ApiInterface } from "./observability/interface.js";

/** What the server's middleware put on a request's context, typed for every route: `Hono<Env>`, `Context<Env>`. */
export interface Env {
  Variables: RequestIdVariables & {
    /** The caller's key, set by `authenticate`; absent on a server without keys and on public routes. */
    principal?: Principal;
    /** Set by `/mcp` on its own request; the requests its tools make say so through `runAsInterface`. */
    interface?: ApiInterface;
    /** Set by `idempotency` on a request with an Idempotency-Key: its work finishes even if the client leaves, so a repeat gets its answer. */
    detached?: boolean;
  };
}
