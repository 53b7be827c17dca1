import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { FileNotFoundError, InvalidRequestError, PayloadTooLargeError } from "@code-interpreter/core";
import { afterEach, describe, expect, it } from "vitest";
import { ALL_TENANTS, type FileStore, type FileStoreLimits } from "../file-store.js";
import { resolveFileInputs, saveOutputFiles } from "../staging.js";

/** How the contract suite reaches one kind of store. */
export interface FileStoreContractOptions {
  /** Opens a store on a fresh, empty place (a new directory, a new key prefix). */
  openStore(limits: FileStoreLimits): Promise<FileStore>;
  /** Opens a second store on the same place as `store`, as another replica (or a restarted server) would. */
  reopen(store: FileStore, limits: FileStoreLimits): Promise<FileStore>;
  /** What the store holds for `store` at the lowest level (file names, object keys), to check nothing is left behind. */
  leftovers(store: FileStore): Promise<string[]>;
  /** Removes everything `store` holds when a test ends (the suite deletes what it made; this catches the rest). */
  cleanup?(store: FileStore): Promise<void>;
}

const notFound = (error: unknown) => FileNotFoundError.isInstance(error);
const MB = 1024 * 1024;

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Deterministic bytes of any length, produced in chunks (never all in memory at once). */
function* pattern(totalBytes: number, chunkBytes = 256 * 1024): Generator<Buffer> {
  for (let offset = 0; offset < totalBytes; offset += chunkBytes) {
    const chunk = Buffer.alloc(Math.min(chunkBytes, totalBytes - offset));
    for (let index = 0; index < chunk.length; index++) chunk[index] = (offset + index) % 251;
    yield chunk;
  }
}

function digest(chunks: Iterable<Buffer>): string {
  const hash = createHash("sha256");
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * The behaviour every FileStore owes its callers, run against a real store:
 * bytes and metadata round-trip, the size limit, expiry on read and by the
 * reaper, tenants kept apart, a second instance (another replica) sharing
 * the same files, and nothing left behind.
 */
export function describeFileStoreContract(name: string, options: FileStoreContractOptions): void {
  describe(`file store contract: ${name}`, { timeout: 120_000 }, () => {
    const opened: FileStore[] = [];
    const open = async (overrides: Partial<FileStoreLimits> = {}) => {
      const store = await options.openStore({ maxFileBytes: 1024, ttlSeconds: 3600, ...overrides });
      opened.push(store);
      return store;
    };
    const reopen = async (store: FileStore, overrides: Partial<FileStoreLimits> = {}) => {
      const again = await options.reopen(store, { ...store.limits, ...overrides });
      opened.push(again);
      return again;
    };
    afterEach(async () => {
      for (const store of opened.splice(0)) {
        await options.cleanup?.(store);
        await store.close();
      }
    });

    it("saves a stream and gives back the same bytes and metadata", async () => {
      const store = await open();
      const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
      const saved = await store.save(Readable.from([bytes.subarray(0, 3), bytes.subarray(3)]), "dir/data.bin", ALL_TENANTS);
      expect(saved).toMatchObject({ filename: "data.bin", size_bytes: 6 });
      expect(Number.isNaN(Date.parse(saved.upload_time))).toBe(false);
      expect((await store.read(saved.file_id, ALL_TENANTS)).equals(bytes)).toBe(true);
      const { metadata, stream } = await store.stream(saved.file_id, ALL_TENANTS);
      expect(metadata).toEqual(saved);
      expect((await collect(stream)).equals(bytes)).toBe(true);
      expect(await store.metadata(saved.file_id, ALL_TENANTS)).toEqual(saved);
      expect(await store.list(ALL_TENANTS)).toEqual([saved]);
      expect(await store.totalBytes(ALL_TENANTS)).toBe(6);
    });

    it("keeps any UTF-8 filename, up to 255 characters, and an empty file", async () => {
      const store = await open();
      const long = "数".repeat(300);
      const saved = await store.save(Buffer.alloc(0), `résumé/${long}`, ALL_TENANTS);
      expect(saved.filename).toBe("数".repeat(255));
      expect(saved.size_bytes).toBe(0);
      expect(await store.metadata(saved.file_id, ALL_TENANTS)).toMatchObject({ filename: saved.filename, size_bytes: 0 });
      const odd = await store.save(Buffer.from("x"), 'a "quoted"; name\u0001.txt', ALL_TENANTS);
      expect((await store.metadata(odd.file_id, ALL_TENANTS)).filename).toBe('a "quoted"; name.txt');
      for (const unnamed of ["", ".", ".."]) {
        expect((await store.save(Buffer.from("x"), unnamed, ALL_TENANTS)).filename).toBe("file");
      }
    });

    it("streams a file of several MB up and down without changing a byte", async () => {
      const size = 11 * MB + 12345;
      const store = await open({ maxFileBytes: 12 * MB });
      const saved = await store.save(Readable.from(pattern(size)), "big.bin", ALL_TENANTS);
      expect(saved.size_bytes).toBe(size);
      const { metadata, stream } = await store.stream(saved.file_id, ALL_TENANTS);
      expect(metadata.size_bytes).toBe(size);
      const hash = createHash("sha256");
      let received = 0;
      for await (const chunk of stream) {
        hash.update(chunk as Uint8Array);
        received += (chunk as Uint8Array).length;
      }
      expect(received).toBe(size);
      expect(hash.digest("hex")).toBe(digest(pattern(size)));
      await store.delete(saved.file_id, ALL_TENANTS);
      expect(await options.leftovers(store)).toEqual([]);
    });

    it("refuses a file over the limit while reading and leaves nothing behind", async () => {
      const store = await open({ maxFileBytes: 10 });
      const source = Readable.from([Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)]);
      await expect(store.save(source, "big", ALL_TENANTS)).rejects.toSatisfy((e) => PayloadTooLargeError.isInstance(e));
      await expect(store.save(Buffer.alloc(11), "big", ALL_TENANTS)).rejects.toThrow("MAX_FILE_SIZE_MB");
      expect(await store.list(ALL_TENANTS)).toEqual([]);
      expect(await options.leftovers(store)).toEqual([]);
    });

    it("refuses an over-limit file past the multipart threshold and leaves no part behind", async () => {
      const store = await open({ maxFileBytes: 7 * MB });
      await expect(store.save(Readable.from(pattern(9 * MB)), "big", ALL_TENANTS)).rejects.toSatisfy((e) =>
        PayloadTooLargeError.isInstance(e),
      );
      expect(await options.leftovers(store)).toEqual([]);
    });

    it("keeps nothing of an upload whose client goes away, and passes its error on", async () => {
      const store = await open({ maxFileBytes: 12 * MB });
      async function* broken(): AsyncGenerator<Buffer> {
        yield* pattern(6 * MB);
        throw new Error("client went away");
      }
      await expect(store.save(Readable.from(broken()), "cut.bin", ALL_TENANTS)).rejects.toThrow("client went away");
      expect(await store.list(ALL_TENANTS)).toEqual([]);
      expect(await options.leftovers(store)).toEqual([]);
    });

    it("deletes files and then answers not found", async () => {
      const store = await open();
      const saved = await store.save(Buffer.from("x"), "x", ALL_TENANTS);
      await store.delete(saved.file_id, ALL_TENANTS);
      await expect(store.read(saved.file_id, ALL_TENANTS)).rejects.toSatisfy(notFound);
      await expect(store.stream(saved.file_id, ALL_TENANTS)).rejects.toSatisfy(notFound);
      await expect(store.metadata(saved.file_id, ALL_TENANTS)).rejects.toSatisfy(notFound);
      await expect(store.delete(saved.file_id, ALL_TENANTS)).rejects.toSatisfy(notFound);
      expect(await options.leftovers(store)).toEqual([]);
    });

    it("treats ids that are not ours, including traversal, as not found", async () => {
      const store = await open();
      for (const id of ["../etc/passwd", "", "tmp", "00000000-0000-0000-0000-000000000000", "a/../b", "%2e%2e"]) {
        await expect(store.metadata(id, ALL_TENANTS)).rejects.toSatisfy(notFound);
        await expect(store.stream(id, ALL_TENANTS)).rejects.toSatisfy(notFound);
        await expect(store.delete(id, ALL_TENANTS)).rejects.toSatisfy(notFound);
      }
    });

    it("expires files on read, and the reaper purges them", async () => {
      const store = await open({ ttlSeconds: 0 });
      const saved = await store.save(Buffer.from("old"), "old.txt", ALL_TENANTS);
      await expect(store.read(saved.file_id, ALL_TENANTS)).rejects.toSatisfy(notFound);
      await expect(store.stream(saved.file_id, ALL_TENANTS)).rejects.toSatisfy(notFound);
      await store.save(Buffer.from("older"), "older.txt", ALL_TENANTS);
      expect(await store.purgeExpired()).toBe(1);
      await store.save(Buffer.from("oldest"), "oldest.txt", ALL_TENANTS);
      expect(await store.list(ALL_TENANTS)).toEqual([]);
      expect(await store.totalBytes(ALL_TENANTS)).toBe(0);
      await store.purgeExpired();
      expect(await options.leftovers(store)).toEqual([]);
    });

    it("leaves unexpired files to the reaper", async () => {
      const store = await open();
      const saved = await store.save(Buffer.from("fresh"), "fresh.txt", ALL_TENANTS);
      expect(await store.purgeExpired()).toBe(0);
      expect((await store.read(saved.file_id, ALL_TENANTS)).toString()).toBe("fresh");
    });

    it("shares files with a second instance on the same place (another replica, a restart)", async () => {
      const a = await open();
      const b = await reopen(a);
      const saved = await a.save(Buffer.from("persist"), "a.txt", { tenant: "acme" });
      expect((await b.read(saved.file_id, { tenant: "acme" })).toString()).toBe("persist");
      expect(await b.list({ tenant: "acme" })).toEqual([saved]);
      await b.delete(saved.file_id, { tenant: "acme" });
      await expect(a.read(saved.file_id, ALL_TENANTS)).rejects.toSatisfy(notFound);
    });

    it("lets two reapers purge the same expired files at once", async () => {
      const a = await open({ ttlSeconds: 0 });
      const b = await reopen(a);
      for (let index = 0; index < 5; index++) await a.save(Buffer.from(`f${index}`), `f${index}`, ALL_TENANTS);
      // Each may find some already gone: neither fails, and together they remove every one.
      await Promise.all([a.purgeExpired(), b.purgeExpired(), a.purgeExpired()]);
      expect(await options.leftovers(a)).toEqual([]);
    });

    it("shows a tenant only its own files; any other caller's lookups are 'not found'", async () => {
      const store = await open();
      const acme = await store.save(Buffer.from("acme"), "a.txt", { tenant: "acme" });
      const globex = await store.save(Buffer.from("globex"), "g.txt", { tenant: "globex" });
      const mine = await store.save(Buffer.from("single"), "s.txt", ALL_TENANTS);
      expect((await store.list({ tenant: "acme" })).map((file) => file.file_id)).toEqual([acme.file_id]);
      expect((await store.read(acme.file_id, { tenant: "acme" })).toString()).toBe("acme");
      await expect(store.read(globex.file_id, { tenant: "acme" })).rejects.toSatisfy(notFound);
      await expect(store.metadata(globex.file_id, { tenant: "acme" })).rejects.toSatisfy(notFound);
      await expect(store.stream(globex.file_id, { tenant: "acme" })).rejects.toSatisfy(notFound);
      await expect(store.delete(globex.file_id, { tenant: "acme" })).rejects.toSatisfy(notFound);
      // A file stored without a tenant is no tenant's.
      await expect(store.read(mine.file_id, { tenant: "acme" })).rejects.toSatisfy(notFound);
      await expect(resolveFileInputs(store, [{ path: "x", file_id: globex.file_id }], { tenant: "acme" })).rejects.toSatisfy(notFound);
      expect(await store.totalBytes({ tenant: "globex" })).toBe(6);
      expect(await store.totalBytes(ALL_TENANTS)).toBe(16);
      // Unrestricted access (one tenant, or an admin) sees everything, and the file survived the refused delete.
      expect(await store.list(ALL_TENANTS)).toHaveLength(3);
      expect((await store.metadata(globex.file_id, ALL_TENANTS)).tenant).toBe("globex");
      const [output] = await saveOutputFiles(store, [{ path: "out.txt", content: Buffer.from("o") }], { tenant: "globex" });
      expect((await store.metadata(output?.file_id ?? "", ALL_TENANTS)).tenant).toBe("globex");
      const special = await store.save(Buffer.from("s"), "s", { tenant: "t/ü é=1" });
      expect((await store.metadata(special.file_id, { tenant: "t/ü é=1" })).tenant).toBe("t/ü é=1");
    });

    it("resolves staged inputs and saves outputs with fresh ids", async () => {
      const store = await open();
      const saved = await store.save(Buffer.from("csv"), "data.csv", ALL_TENANTS);
      const files = await resolveFileInputs(store, [{ path: "./in//data.csv", file_id: saved.file_id }], ALL_TENANTS);
      expect(files).toEqual([{ path: "in/data.csv", content: Buffer.from("csv") }]);
      const missing = "11111111-1111-1111-1111-111111111111";
      await expect(resolveFileInputs(store, [{ path: "a.txt", file_id: missing }], ALL_TENANTS)).rejects.toThrow(
        `File "${missing}" for path "a.txt" not found`,
      );
      await expect(resolveFileInputs(store, [{ path: "../x", file_id: saved.file_id }], ALL_TENANTS)).rejects.toSatisfy((e) =>
        InvalidRequestError.isInstance(e),
      );
      const listed = await saveOutputFiles(store, [{ path: "out/plot.png", content: Buffer.from("png") }], ALL_TENANTS);
      expect(listed).toEqual([{ path: "out/plot.png", kind: "file", file_id: expect.any(String) }]);
      expect((await store.metadata(listed[0]?.file_id ?? "", ALL_TENANTS)).filename).toBe("plot.png");
    });

    it("keeps records apart from files: round-trip, streams, list by prefix, delete", async () => {
      const store = await open();
      expect(await store.records.put("exec/a/status", '{"n":1}', { ttlSeconds: 60 })).toBe(true);
      expect(await store.records.put("exec/a/events/000001", Buffer.from([0, 1, 2]), { ttlSeconds: 60 })).toBe(true);
      expect(await store.records.put("other", Readable.from([Buffer.from("str"), Buffer.from("eam")]), { ttlSeconds: 60 })).toBe(true);
      expect((await store.records.get("exec/a/status"))?.toString()).toBe('{"n":1}');
      expect((await store.records.get("exec/a/events/000001"))?.equals(Buffer.from([0, 1, 2]))).toBe(true);
      expect((await collect((await store.records.stream("other")) as Readable)).toString()).toBe("stream");
      expect(await store.records.list("exec/a/")).toEqual(["exec/a/events/000001", "exec/a/status"]);
      // Overwritten without ifAbsent.
      expect(await store.records.put("exec/a/status", '{"n":2}', { ttlSeconds: 60 })).toBe(true);
      expect((await store.records.get("exec/a/status"))?.toString()).toBe('{"n":2}');
      // Never files: not listed, not counted, not purged while fresh.
      expect(await store.list(ALL_TENANTS)).toEqual([]);
      expect(await store.totalBytes(ALL_TENANTS)).toBe(0);
      expect(await store.purgeExpired()).toBe(0);
      expect(await store.records.get("missing")).toBeUndefined();
      expect(await store.records.stream("missing")).toBeUndefined();
      for (const name of await store.records.list("")) await store.records.delete(name);
      await store.records.delete("missing");
      expect(await store.records.get("exec/a/status")).toBeUndefined();
      expect(await options.leftovers(store)).toEqual([]);
      for (const bad of ["", "../x", "a/../b", "a//b", "a b", "/abs"]) {
        await expect(store.records.put(bad, "x", { ttlSeconds: 60 })).rejects.toSatisfy((e) => InvalidRequestError.isInstance(e));
      }
    });

    it("creates a record only when absent, once among concurrent writers and replicas", async () => {
      const a = await open();
      const b = await reopen(a);
      const attempts = await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          (index % 2 ? a : b).records.put("claim", `writer-${index}`, { ttlSeconds: 60, ifAbsent: true }),
        ),
      );
      expect(attempts.filter(Boolean)).toHaveLength(1);
      const winner = attempts.indexOf(true);
      expect((await b.records.get("claim"))?.toString()).toBe(`writer-${winner}`);
      expect(await a.records.put("claim", "late", { ttlSeconds: 60, ifAbsent: true })).toBe(false);
      expect((await a.records.get("claim"))?.toString()).toBe(`writer-${winner}`);
      await a.records.delete("claim");
      expect(await options.leftovers(a)).toEqual([]);
    });

    it("expires records, lets ifAbsent replace an expired one, and the reaper purges them", async () => {
      const store = await open();
      await store.records.put("old", "x", { ttlSeconds: 0 });
      expect(await store.records.get("old")).toBeUndefined();
      expect(await store.records.stream("old")).toBeUndefined();
      expect(await store.records.put("old", "new", { ttlSeconds: 60, ifAbsent: true })).toBe(true);
      expect((await store.records.get("old"))?.toString()).toBe("new");
      await store.records.put("older", "y", { ttlSeconds: 0 });
      await store.records.put("oldest", "z", { ttlSeconds: 0 });
      expect(await store.purgeExpired()).toBe(2);
      expect(await store.records.list("")).toEqual(["old"]);
      await store.records.delete("old");
      expect(await options.leftovers(store)).toEqual([]);
    });

    it("streams a large record in and out without changing a byte", async () => {
      const size = 6 * MB + 321;
      const store = await open();
      await store.records.put("big", Readable.from(pattern(size)), { ttlSeconds: 60 });
      const hash = createHash("sha256");
      let received = 0;
      for await (const chunk of (await store.records.stream("big")) as Readable) {
        hash.update(chunk as Uint8Array);
        received += (chunk as Uint8Array).length;
      }
      expect(received).toBe(size);
      expect(hash.digest("hex")).toBe(digest(pattern(size)));
      await store.records.delete("big");
      expect(await options.leftovers(store)).toEqual([]);
    });

    it("reports itself healthy", async () => {
      const store = await open();
      expect(await store.health()).toEqual({ ok: true });
    });
  });
}

export {
  createTestBucket,
  findTestObjectStore,
  listKeys,
  SWIFT_STATE_FILE,
  type TestObjectStore,
  testS3Client,
  testStoreEnv,
  testStoreSettings,
} from "./object-store.js";
