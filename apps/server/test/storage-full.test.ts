import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, json, postJson, type TestApp } from "./fixture.js";

const run = promisify(execFile);
// The file store on a 256 KiB tmpfs of its own: a full disk, for real (mounting needs root).
const unavailable = process.getuid?.() === 0 ? undefined : "needs root to mount a tmpfs";
if (unavailable && process.env.CI === "true") throw new Error(`the storage-full tests ${unavailable}`);

describe.skipIf(unavailable)("a server whose storage is full", { timeout: 120_000 }, () => {
  let mountpoint: string;
  let test: TestApp;
  beforeAll(async () => {
    mountpoint = await mkdtemp(join(tmpdir(), "ci-full-store-"));
    await run("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mountpoint]);
    test = await createTestApp({ FILE_STORE: "dir", FILE_STORAGE_DIR: mountpoint });
  });
  afterAll(async () => {
    await test?.close();
    await run("umount", ["-l", mountpoint]).catch(() => {});
    await rm(mountpoint, { recursive: true, force: true });
  });

  const upload = (size: number) => {
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(size)]), "data.bin");
    return test.app.request("/v1/files", { method: "POST", body: form });
  };

  it("answers an upload 503 saying the storage is full, not a bare 500, and keeps nothing of it", async () => {
    const response = await upload(1024 * 1024);
    expect(response.status).toBe(503);
    expect((await json(response)).detail).toContain("The server's storage is full (ENOSPC)");
    expect((await json(await test.app.request("/v1/files"))).files).toEqual([]);
  });

  it("answers an execution 200 with its output and lists the file it could not keep", async () => {
    const response = await postJson(test.app, "/v1/execute", { code: "open('out.bin', 'wb').write(bytes(1024 * 1024))\nprint('done')" });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body).toMatchObject({ stdout: "done\n", exit_code: 0, files: [] });
    expect(body.skipped_files).toEqual([{ path: "out.bin", reason: "the server's file storage is full (ENOSPC)" }]);
  });
});
