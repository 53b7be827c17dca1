import { spawn } from "node:child_process";
import { access, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { BackendUnavailableError } from "@code-interpreter/core";
import type { SessionImage } from "@code-interpreter/core/engine";
import type { RunscOptions } from "./runsc-bundle.js";
import { checkpointContainer, type SandboxProcess } from "./sandbox-process.js";

/** What a session's gVisor sandbox runs: its Python kernel, or its command runner. */
export type SessionSandboxRole = "kernel" | "commands";

const ROLES: readonly SessionSandboxRole[] = ["kernel", "commands"];

/** Where a session's checkpoints wait to be restored: `<session dir>/memory/<role>`, out of every sandbox's reach. */
export const MEMORY_DIR = "memory";

/**
 * Memory snapshots of gVisor sessions (issue 23). A session's sandboxes (its
 * kernel and its command runner) are checkpointed into its directory, where
 * each waits until the session next needs that sandbox: then it is restored
 * (`runsc restore`) instead of started afresh, and goes on where it was. So
 * a session checkpointed for a fork, or for a pause whose snapshot is
 * refused, goes on as if untouched; a resumed or forked session gets the
 * images in its new directory. The memory part of an image is a tar of that
 * `memory` directory; the filesystem part a tar of the workspace, made and
 * unpacked as the sandbox's user (it holds what the sandbox wrote).
 */
export class SessionCheckpoints {
  constructor(
    private readonly runsc: RunscOptions,
    /** The uid tar runs as on the workspace (the sandbox's, when the server is root). */
    private readonly runAs: number | undefined,
  ) {}

  /**
   * Checkpoints the session's live sandboxes (each ends), then packs its
   * workspace, now quiet, and every waiting image. A role with no live
   * sandbox keeps the image it waits on, if any (a kernel never started has none).
   */
  async capture(
    sessionDir: string,
    workspaceDir: string,
    live: { role: SessionSandboxRole; sandbox: SandboxProcess }[],
  ): Promise<SessionImage> {
    const memoryDir = join(sessionDir, MEMORY_DIR);
    await mkdir(memoryDir, { recursive: true, mode: 0o700 });
    await Promise.all(
      ROLES.map(async (role) => {
        const [newest, ...older] = live.filter((entry) => entry.role === role).reverse();
        if (!newest?.sandbox.containerId) return;
        await Promise.all(older.map((entry) => entry.sandbox.kill()));
        const imageDir = join(memoryDir, role);
        await rm(imageDir, { recursive: true, force: true });
        await mkdir(imageDir, { mode: 0o700 });
        try {
          await checkpointContainer(this.runsc, newest.sandbox.containerId, imageDir);
        } catch (error) {
          await rm(imageDir, { recursive: true, force: true });
          await newest.sandbox.kill();
          throw error;
        }
        await newest.sandbox.exited;
      }),
    );
    const filesystem = await tar(["-C", workspaceDir, "-cf", "-", "."], { uid: this.runAs });
    const memory = await tar(["-C", memoryDir, "-cf", "-", "."], {});
    return { filesystem, memory };
  }

  /** Unpacks an image into a session made for it: its workspace, then its checkpoints, to be restored on first use. */
  async restore(sessionDir: string, workspaceDir: string, image: SessionImage): Promise<void> {
    await tar(["-C", workspaceDir, "-xpf", "-"], { uid: this.runAs, input: image.filesystem });
    if (!image.memory) return;
    const memoryDir = join(sessionDir, MEMORY_DIR);
    await mkdir(memoryDir, { recursive: true, mode: 0o700 });
    await tar(["-C", memoryDir, "-xf", "-"], { input: image.memory });
  }

  /** The checkpoint image directory waiting for the session's `role`, or undefined: it starts afresh. */
  async waiting(sessionDir: string, role: SessionSandboxRole): Promise<string | undefined> {
    const imageDir = join(sessionDir, MEMORY_DIR, role);
    return access(imageDir).then(
      () => imageDir,
      () => undefined,
    );
  }
}

/** Runs GNU tar (as `uid`, with `input` on its stdin) and gives its stdout; an error names what it said. */
function tar(args: string[], options: { uid?: number; input?: Buffer }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("tar", args, {
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
    });
    const chunks: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += String(chunk);
    });
    child.stdin.on("error", () => {});
    child.stdin.end(options.input);
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else {
        const reason = stderr.trim().split("\n").at(-1) ?? "";
        reject(
          new BackendUnavailableError({ message: `the session's snapshot could not be packed or unpacked (tar exit ${code}): ${reason}` }),
        );
      }
    });
  });
}
