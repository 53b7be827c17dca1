import type { Context } from "hono";
import type { ServerContext } from "./context.js";
import type { Env } from "./env.js";

/**
 * Takes an execution slot of the caller's tenant (TENANT_MAX_CONCURRENT_EXECUTIONS)
 * and one of the server's (MAX_CONCURRENT_EXECUTIONS), or throws the 429 of
 * whichever is full. The release gives back both.
 */
export function acquireExecutionSlot(server: ServerContext, c: Context<Env>): () => void {
  const releaseTenant = server.tenancy.acquireExecution(c);
  try {
    const releaseServer = server.limit.acquire();
    return () => {
      releaseServer();
      releaseTenant();
    };
  } catch (error) {
    releaseTenant();
    throw error;
  }
}

/** Runs `work` holding an execution slot (see acquireExecutionSlot). */
export async function withExecutionSlot<T>(server: ServerContext, c: Context<Env>, work: () => Promise<T>): Promise<T> {
  const release = acquireExecutionSlot(server, c);
  try {
    return await work();
  } finally {
    release();
  }
}
