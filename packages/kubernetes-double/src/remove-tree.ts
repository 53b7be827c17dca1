import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Removes a directory tree, also one deeper than PATH_MAX (which code in a
 * pod can build and Node's `rm` gives up on with ENAMETOOLONG): then GNU
 * `rm`, which walks it relative to each directory, does it.
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch {
    await run("rm", ["-rf", "--one-file-system", "--", path]);
  }
}
