import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectoryFileStore } from "./directory-file-store.js";
import { ALL_TENANTS, type FileStore } from "./file-store.js";
import { OutputSaver } from "./staging.js";

let dir: string;
let store: FileStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-outputs-"));
  store = await DirectoryFileStore.open({ dir, maxFileBytes: 1024, ttlSeconds: 3600 });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const file = (path: string, content = path) => ({ path, content: Buffer.from(content) });

describe("OutputSaver", () => {
  it("stores outputs as they come and those of the result, listed by path, with what the store refused as skipped", async () => {
    const outputs = new OutputSaver(store, ALL_TENANTS);
    await outputs.save(file("z.txt"));
    await outputs.save(file("big.bin", "x".repeat(2048)));
    await outputs.save(file("a/b.txt"));
    const saved = await outputs.finish([file("m.txt")], [{ path: "left.out", reason: "the sandbox's snapshot limit" }]);
    expect(saved.files.map((entry) => entry.path)).toEqual(["a/b.txt", "m.txt", "z.txt"]);
    expect(saved.skipped_files).toEqual([
      { path: "left.out", reason: "the sandbox's snapshot limit" },
      { path: "big.bin", reason: expect.stringContaining("MAX_FILE_SIZE_MB") },
    ]);
    for (const entry of saved.files) {
      expect((await store.read(entry.file_id as string, ALL_TENANTS)).toString()).toBe(entry.path);
    }
    expect((await store.list(ALL_TENANTS)).length).toBe(3);
  });

  it("keeps nothing of an execution that failed, not even a save that was still under way", async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A store that has written "late.txt" but not yet answered when the execution fails.
    const slow: FileStore = Object.create(store, {
      save: {
        value: async (...args: Parameters<FileStore["save"]>) => {
          const saved = await store.save(...args);
          if (args[1] === "late.txt") await held;
          return saved;
        },
      },
    });
    const outputs = new OutputSaver(slow, ALL_TENANTS);
    await outputs.save(file("first.txt"));
    const late = outputs.save(file("late.txt"));
    for (let i = 0; i < 100 && (await store.list(ALL_TENANTS)).length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await store.list(ALL_TENANTS)).length).toBe(2);
    await outputs.discard();
    release();
    await late;
    await outputs.save(file("after.txt"));
    expect(await store.list(ALL_TENANTS)).toEqual([]);
  });
});
