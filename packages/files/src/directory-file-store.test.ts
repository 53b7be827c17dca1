import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { FileNotFoundError, PayloadTooLargeError } from "@code-interpreter/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectoryFileStore } from "./directory-file-store.js";
import { ALL_TENANTS } from "./file-store.js";
import { FileStore, openFileStore } from "./open-file-store.js";
import { resolveFileInputs } from "./staging.js";

// What only the directory store has: files on disk. The behaviour both stores share is in test/contract.test.ts.
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-files-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const open = (overrides: Partial<{ maxFileBytes: number; ttlSeconds: number }> = {}) =>
  DirectoryFileStore.open({ dir, maxFileBytes: 1024, ttlSeconds: 3600, ...overrides });

describe("DirectoryFileStore", () => {
  it("keeps nothing on disk of a refused upload, not even in tmp", async () => {
    const store = await open({ maxFileBytes: 10 });
    const source = Readable.from([Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)]);
    await expect(store.save(source, "big", ALL_TENANTS)).rejects.toSatisfy((e) => PayloadTooLargeError.isInstance(e));
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
    expect((await readdir(dir)).filter((name) => name !== "tmp" && name !== "records")).toEqual([]);
    expect(await readdir(join(dir, "records"))).toEqual([]);
  });

  it("answers not found when a file's bytes are deleted after its metadata was read", async () => {
    const store = await open();
    const saved = await store.save(Buffer.from("soon gone"), "a.txt", ALL_TENANTS);
    // What a concurrent DELETE leaves between the lookup and the read: metadata read, data gone.
    await rm(join(dir, `${saved.file_id}.bin`));
    await expect(store.read(saved.file_id, ALL_TENANTS)).rejects.toSatisfy((e) => FileNotFoundError.isInstance(e));
    await expect(store.stream(saved.file_id, ALL_TENANTS)).rejects.toSatisfy((e) => FileNotFoundError.isInstance(e));
    await expect(resolveFileInputs(store, [{ path: "a.txt", file_id: saved.file_id }], ALL_TENANTS)).rejects.toThrow(
      `File "${saved.file_id}" for path "a.txt" not found`,
    );
  });

  it("reports a directory it cannot write to as unhealthy, naming FILE_STORAGE_DIR", async () => {
    const store = await open();
    await rm(dir, { recursive: true, force: true });
    expect(await store.health()).toEqual({ ok: false, detail: expect.stringContaining("FILE_STORAGE_DIR") });
  });

  it("opens through openFileStore and the older FileStore.open alike", async () => {
    const viaFactory = await openFileStore({ kind: "dir", dir, maxFileBytes: 1024, ttlSeconds: 60 });
    const viaOpen = await FileStore.open({ dir, maxFileBytes: 1024, ttlSeconds: 60 });
    const saved = await viaFactory.save(Buffer.from("x"), "x", ALL_TENANTS);
    expect(viaFactory.kind).toBe("dir");
    expect((await viaOpen.read(saved.file_id, ALL_TENANTS)).toString()).toBe("x");
  });
});
