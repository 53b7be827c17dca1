import { spawn } from "node:child_process";
import { lstat, rm } from "node:fs/promises";
import { CodeInterpreterError } from "./errors.js";

/** A directory tree that could not be removed (the message quotes what `rm` said). */
export class TreeRemovalError extends CodeInterpreterError {
  static override readonly code: string = "TreeRemovalError";
}

/**
 * Removes a directory tree that sandboxed code may have shaped: any depth
 * (far past PATH_MAX), any number of files, directories it made unreadable.
 * The work happens in child processes, off the event loop: GNU `rm -rf`
 * walks the tree with fts relative to directory descriptors (never through a
 * full path) and stays on one file system; when it fails, directories the
 * code locked (mode 000) are opened up with `find -execdir` (also relative)
 * and `rm` tries again. A path that does not exist counts as removed.
 */
export async function removeTree(path: string): Promise<void> {
  if (!(await exists(path))) return;
  const first = await run("rm", ["-rf", "--one-file-system", "--", path]);
  if (first.code === 0) return;
  if (first.code === undefined) {
    // No `rm` on this host (not Debian/Alpine coreutils or busybox): Node's own, which handles all but extreme depths.
    await rm(path, { recursive: true, force: true });
    return;
  }
  await run("find", ["-P", path, "-xdev", "-type", "d", "!", "-perm", "-u=rwx", "-execdir", "chmod", "u+rwx", "{}", ";"]);
  const second = await run("rm", ["-rf", "--one-file-system", "--", path]);
  if (second.code !== 0 && (await exists(path))) {
    throw new TreeRemovalError({ message: `could not remove ${path}: ${second.stderr || first.stderr || `rm exited ${second.code}`}` });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

const MAX_STDERR_BYTES = 4096;

/** Runs a program; `code` is undefined when it could not be started at all. */
function run(command: string, args: string[]): Promise<{ code: number | undefined; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" },
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString("utf8");
    });
    child.once("error", () => resolve({ code: undefined, stderr }));
    child.once("close", (code) => resolve({ code: code ?? 1, stderr: firstLines(stderr) }));
  });
}

/** rm reports every file it could not remove: the first few say enough. */
function firstLines(text: string): string {
  return text.trim().split("\n").slice(0, 3).join("; ");
}
