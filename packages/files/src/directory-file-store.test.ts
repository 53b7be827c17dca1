import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { FileNotFoundError, InvalidRequestError, PayloadTooLargeError } from "@code-interpreter/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileStore } from "./file-store.js";
import { resolveFileInputs, saveOutputFiles } from "./staging.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-files-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const open = (overrides: Partial<{ maxFileBytes: number; ttlSeconds: number }> = {}) =>
  FileStore.open({ dir, maxFileBytes: 1024, ttlSeconds: 3600, ...overrides });

describe("FileStore", () => {
  it("saves a stream and gives back the same bytes and metadata", async () => {
    const store = await open();
    const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
    const saved = await store.save(Readable.from([bytes.subarray(0, 3), bytes.subarray(3)]), "dir/data.bin");
    expect(saved).toMatchObject({ filename: "data.bin", size_bytes: 6 });
    expect(Number.isNaN(Date.parse(saved.upload_time))).toBe(false);
    expect((await store.read(saved.file_id)).equals(bytes)).toBe(true);
    expect(await store.list()).toEqual([saved]);
  });

  it("keeps files across a restart", async () => {
    const saved = await (await open()).save(Buffer.from("persist"), "a.txt");
    const reopened = await open();
    expect((await reopened.read(saved.file_id)).toString()).toBe("persist");
  });

  it("refuses a file over the limit while reading and leaves nothing behind", async () => {
    const store = await open({ maxFileBytes: 10 });
    const source = Readable.from([Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)]);
    await expect(store.save(source, "big")).rejects.toSatisfy((e) => PayloadTooLargeError.isInstance(e));
    expect(await store.list()).toEqual([]);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
    expect((await readdir(dir)).filter((name) => name !== "tmp")).toEqual([]);
  });

  it("deletes files and then answers not found", async () => {
    const store = await open();
    const saved = await store.save(Buffer.from("x"), "x");
    await store.delete(saved.file_id);
    await expect(store.read(saved.file_id)).rejects.toSatisfy((e) => FileNotFoundError.isInstance(e));
    await expect(store.delete(saved.file_id)).rejects.toSatisfy((e) => FileNotFoundError.isInstance(e));
  });

  it("treats ids that are not ours, including traversal, as not found", async () => {
    const store = await open();
    for (const id of ["../etc/passwd", "", "tmp", "00000000-0000-0000-0000-000000000000"]) {
      await expect(store.metadata(id)).rejects.toSatisfy((e) => FileNotFoundError.isInstance(e));
    }
  });

  it("expires files after their TTL and purges them from disk", async () => {
    const store = await open({ ttlSeconds: 0 });
    const saved = await store.save(Buffer.from("old"), "old.txt");
    await expect(store.read(saved.file_id)).rejects.toSatisfy((e) => FileNotFoundError.isInstance(e));
    await store.save(Buffer.from("older"), "older.txt");
    expect(await store.purgeExpired()).toBe(1);
    expect((await readdir(dir)).filter((name) => name !== "tmp")).toEqual([]);
  });
});

describe("staging", () => {
  it("resolves inputs into files at validated paths", async () => {
    const store = await open();
    const saved = await store.save(Buffer.from("csv"), "data.csv");
    const files = await resolveFileInputs(store, [{ path: "./in//data.csv", file_id: saved.file_id }]);
    expect(files).toEqual([{ path: "in/data.csv", content: Buffer.from("csv") }]);
  });

  it("names the id and the path of an unknown file", async () => {
    const store = await open();
    const missing = "11111111-1111-1111-1111-111111111111";
    await expect(resolveFileInputs(store, [{ path: "a.txt", file_id: missing }])).rejects.toThrow(
      `File "${missing}" for path "a.txt" not found`,
    );
  });

  it("refuses unsafe and duplicate paths", async () => {
    const store = await open();
    const saved = await store.save(Buffer.from("x"), "x");
    for (const path of ["/etc/passwd", "../x", "a/../../x", "__main__.py", "", "a\0b"]) {
      await expect(resolveFileInputs(store, [{ path, file_id: saved.file_id }])).rejects.toSatisfy((e) =>
        InvalidRequestError.isInstance(e),
      );
    }
    await expect(
      resolveFileInputs(store, [
        { path: "a", file_id: saved.file_id },
        { path: "./a", file_id: saved.file_id },
      ]),
    ).rejects.toThrow("more than once");
  });

  it("answers not found when a file's bytes are deleted after its metadata was read", async () => {
    const store = await open();
    const saved = await store.save(Buffer.from("soon gone"), "a.txt");
    // What a concurrent DELETE leaves between the lookup and the read: metadata read, data gone.
    await rm(join(dir, `${saved.file_id}.bin`));
    await expect(store.read(saved.file_id)).rejects.toSatisfy((e) => FileNotFoundError.isInstance(e));
    await expect(store.stream(saved.file_id)).rejects.toSatisfy((e) => FileNotFoundError.isInstance(e));
    await expect(resolveFileInputs(store, [{ path: "a.txt", file_id: saved.file_id }])).rejects.toThrow(
      `File "${saved.file_id}" for path "a.txt" not found`,
    );
  });

  it("saves output files with fresh ids", async () => {
    const store = await open();
    const listed = await saveOutputFiles(store, [{ path: "out/plot.png", content: Buffer.from("png") }]);
    expect(listed).toEqual([{ path: "out/plot.png", kind: "file", file_id: expect.any(String) }]);
    const metadata = await store.metadata(listed[0]?.file_id ?? "");
    expect(metadata.filename).toBe("plot.png");
  });
});

describe("tenants", () => {
  it("shows a tenant only its own files; any other caller's lookups are 'not found'", async () => {
    const store = await open();
    const acme = await store.save(Buffer.from("acme"), "a.txt", { tenant: "acme" });
    const globex = await store.save(Buffer.from("globex"), "g.txt", { tenant: "globex" });
    expect((await store.list({ tenant: "acme" })).map((file) => file.file_id)).toEqual([acme.file_id]);
    expect((await store.read(acme.file_id, { tenant: "acme" })).toString()).toBe("acme");
    const notFound = (error: unknown) => FileNotFoundError.isInstance(error);
    await expect(store.read(globex.file_id, { tenant: "acme" })).rejects.toSatisfy(notFound);
    await expect(store.stream(globex.file_id, { tenant: "acme" })).rejects.toSatisfy(notFound);
    await expect(store.delete(globex.file_id, { tenant: "acme" })).rejects.toSatisfy(notFound);
    await expect(resolveFileInputs(store, [{ path: "x", file_id: globex.file_id }], { tenant: "acme" })).rejects.toSatisfy(notFound);
    expect(await store.totalBytes({ tenant: "globex" })).toBe(6);
    // Unrestricted access (one tenant, or an admin) sees everything, and the file survived the refused delete.
    expect(await store.list()).toHaveLength(2);
    const [output] = await saveOutputFiles(store, [{ path: "out.txt", content: Buffer.from("o") }], { tenant: "globex" });
    expect((await store.metadata(output?.file_id ?? "")).tenant).toBe("globex");
  });
});
