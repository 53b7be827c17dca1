import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temporary directory the sandbox uid can traverse (session workspaces live below it); `remove()` deletes it. */
export async function stateDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${prefix}-`));
  await chmod(path, 0o711);
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * The environment of a test server (in-process, a child process, `code-interpreter serve` or `mcp`) whose
 * state lives below `dir`: the local backend, which must work under CI=true, its state and the file store
 * in `dir`. `env` adds to or overrides it.
 */
export function serverEnv(dir: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    EXECUTOR_BACKEND: "local",
    LOCAL_SANDBOX: process.env.CI === "true" ? "require" : "auto",
    LOCAL_STATE_DIR: join(dir, "local"),
    FILE_STORAGE_DIR: join(dir, "files"),
    ...env,
  };
}
