import type { CommandResult, SkippedFile, WorkspaceFile } from "@code-interpreter/core";
import { saveOutputs } from "@code-interpreter/files";
import type { Context } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";

/**
 * The `files` of an execution or session Python answer, saved to the store,
 * and `skipped_files` for those left out (by the sandbox or as too large to
 * keep): present only when there is one, so every other answer stays onyx's
 * exactly. The same for execute, its stream's `result` and session Python.
 */
export async function saveResultFiles(
  server: ServerContext,
  c: Context<Env>,
  result: CommandResult,
): Promise<{ files: WorkspaceFile[]; skipped_files?: SkippedFile[] }> {
  const { files, skipped_files } = await saveOutputs(server.store, result.files ?? [], accessOf(c).owner, result.skippedFiles);
  return skipped_files.length ? { files, skipped_files } : { files };
}
