import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import { validateWorkspacePath } from "../workspace/workspace-path.js";
import * as code from "./hostile-code.js";
import { type HostileContext, MAX_SNAPSHOT_FILES } from "./hostile-context.js";

/** Hostile workspaces: special files, sparse files, many files, deep trees, hostile names, binary round trips. */
export function describeFiles({ hostile, run, settings, syscallSlowdown }: HostileContext): void {
  hostile("skips symlinks, hardlinks, fifos, sockets and devices in the snapshot without hanging", async () => {
    const result = await run(code.SPECIAL_FILES, { timeoutMs: 20_000 });
    expect(result).toMatchObject({ stdout: "planted\n", exitCode: 0, timedOut: false });
    expect(result.files.map((file) => [file.path, file.content.toString()])).toEqual([["real.txt", "real"]]);
  });

  hostile("never reads a huge sparse file into the snapshot", async () => {
    const result = await run(code.SPARSE_FILES(settings.workspaceSizeMb), { timeoutMs: 20_000 });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(result.stdout).toMatch(/^refused .+\ndone\n$/);
    const total = result.files.reduce((sum, file) => sum + file.content.length, 0);
    expect(total).toBeLessThanOrEqual(settings.workspaceSizeMb * 2 ** 20);
    // The refused truncate leaves huge.bin empty; a backend that allowed it must not have read it.
    expect(result.files.find((file) => file.path === "huge.bin")?.content.length ?? 0).toBe(0);
  });

  hostile(
    "answers for 100,000 small files with a bounded snapshot",
    async () => {
      const result = await run(code.MANY_FILES(100_000), { timeoutMs: 60_000 * syscallSlowdown });
      expect(result).toMatchObject({ exitCode: 0, timedOut: false });
      // Made all, or stopped by the filesystem's inode limit; at most MAX_SNAPSHOT_FILES come back.
      expect(result.stdout).toMatch(/^(stopped No space left on device\n)?made \d+\n$/);
      expect(result.files.length).toBeGreaterThan(0);
      expect(result.files.length).toBeLessThanOrEqual(MAX_SNAPSHOT_FILES);
    },
    { timeout: 90_000 + 60_000 * syscallSlowdown },
  );

  hostile("answers for a tree 1000 directories deep", async () => {
    const result = await run(code.DEEP_TREE(1000), { timeoutMs: 30_000 });
    expect(result).toMatchObject({ stdout: "built\n", exitCode: 0, timedOut: false });
    expect(result.files.map((file) => file.path)).toEqual([`${"d/".repeat(1000)}bottom.txt`]);
  });

  hostile("answers for a tree deeper than PATH_MAX", async () => {
    const result = await run(code.DEEP_TREE(2500), { timeoutMs: 30_000 });
    expect(result).toMatchObject({ stdout: "built\n", exitCode: 0, timedOut: false });
    expect(result.files).toEqual([]);
  });

  hostile("returns files with hostile names under valid paths", async () => {
    const result = await run(code.HOSTILE_NAMES);
    expect(result).toMatchObject({ stdout: "10\n", exitCode: 0 });
    for (const file of result.files) {
      expect(validateWorkspacePath(file.path)).toBe(file.path);
      expect(file.content.toString()).toBe("ok");
    }
    // A name that is not UTF-8 is left out: it has no faithful path, and two such names would come back as one.
    expect(result.files.map((file) => file.path).sort()).toEqual(
      ["new\nline.txt", "bidi-\u202etxt.exe", "x".repeat(255), "tab\tand space.txt", "-dash.txt", "émoji-😀.txt"].sort(),
    );
  });

  hostile("round-trips a binary file byte for byte", async () => {
    const input = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, index) => index)), randomBytes(3 * 2 ** 20)]);
    const result = await run(code.COPY_BINARY, { files: [{ path: "in/input.bin", content: input }] });
    expect(result.stdout).toBe(`${input.length}\n`);
    expect(result.files.map((file) => file.path)).toEqual(["out/output.bin"]);
    expect(result.files[0]?.content.equals(input)).toBe(true);
  });
}
