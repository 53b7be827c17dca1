import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { changedFiles, packWorkspace, unpackWorkspace, type WorkspaceFileContent, WorkspaceUnpacker } from "./workspace-tar.js";

describe("workspace tar", () => {
  it("round-trips files byte for byte", async () => {
    const files = [
      { path: "a.txt", content: Buffer.from("text") },
      { path: "deep/dir/b.bin", content: Buffer.from([0, 1, 255]) },
      { path: "empty", content: Buffer.alloc(0) },
    ];
    expect(await unpackWorkspace(await packWorkspace(files))).toEqual(files);
  });

  it("skips links and devices and refuses paths that leave the workspace", async () => {
    const archive = async (entries: Partial<tar.Header>[]) => {
      const pack = tar.pack();
      for (const header of entries) {
        if (header.type === "file") pack.entry({ name: "", ...header }, "data");
        else pack.entry({ name: "", ...header });
      }
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const chunk of pack) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    const mixed = await archive([
      { name: "link", type: "symlink", linkname: "/etc/passwd" },
      { name: "hard", type: "link", linkname: "ok.txt" },
      { name: "fifo", type: "fifo" },
      { name: "ok.txt", type: "file", size: 4 },
    ]);
    expect((await unpackWorkspace(mixed)).map((f) => f.path)).toEqual(["ok.txt"]);
    await expect(unpackWorkspace(await archive([{ name: "../escape", type: "file", size: 4 }]))).rejects.toThrow("'..'");
    await expect(unpackWorkspace(await archive([{ name: "/abs", type: "file", size: 4 }]))).rejects.toThrow("relative");
  });

  it("refuses a snapshot over its size limit", async () => {
    const archive = await packWorkspace([{ path: "big", content: Buffer.alloc(100) }]);
    await expect(unpackWorkspace(archive, { maxBytes: 50 })).rejects.toThrow("larger than 50 bytes");
  });

  it("hands files to onFile one at a time, in archive order, waiting for each, and keeps none", async () => {
    const files = ["a", "b", "c"].map((name) => ({ path: `${name}.txt`, content: Buffer.from(name.repeat(1000)) }));
    const taken: string[] = [];
    let busy = 0;
    let overlapped = false;
    const onFile = async (file: WorkspaceFileContent) => {
      overlapped ||= busy > 0;
      busy += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      taken.push(`${file.path}:${file.content.length}`);
      busy -= 1;
    };
    expect(await unpackWorkspace(await packWorkspace(files), { onFile })).toEqual([]);
    expect(taken).toEqual(["a.txt:1000", "b.txt:1000", "c.txt:1000"]);
    expect(overlapped).toBe(false);
  });

  it("asks the writer to wait while onFile is behind, then takes the rest", async () => {
    const files = Array.from({ length: 6 }, (_, i) => ({ path: `f${i}`, content: Buffer.alloc(1024 * 1024, i) }));
    const archive = await packWorkspace(files);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const taken: string[] = [];
    const unpacker = new WorkspaceUnpacker({
      onFile: async (file) => {
        await held;
        taken.push(file.path);
      },
    });
    // Fed as a runner's frames would come. While the first file's taker holds, the unpacker must stay
    // refused (never drained): what it has accepted is all the memory the snapshot takes meanwhile.
    const chunk = 64 * 1024;
    let accepted = 0;
    let stuck = false;
    while (accepted < archive.length && !stuck) {
      const flowing = unpacker.write(archive.subarray(accepted, accepted + chunk));
      accepted += chunk;
      if (!flowing) {
        const drained = unpacker.whenDrained().then(() => true);
        stuck = !(await Promise.race([drained, new Promise<boolean>((resolve) => setTimeout(resolve, 200, false))]));
      }
    }
    expect(stuck).toBe(true);
    expect(taken).toEqual([]);
    expect(accepted).toBeLessThan(3 * 1024 * 1024); // of 6 MiB: one file being taken, and 1 MiB read ahead
    release();
    await unpacker.whenDrained();
    for (; accepted < archive.length; accepted += chunk) {
      if (!unpacker.write(archive.subarray(accepted, accepted + chunk))) await unpacker.whenDrained();
    }
    expect(await unpacker.finish()).toEqual([]);
    expect(taken).toEqual(files.map((file) => file.path));
  });

  it("never hands onFile a file of a snapshot over its limit, and fails when onFile does", async () => {
    const archive = await packWorkspace([
      { path: "small", content: Buffer.alloc(40) },
      { path: "big", content: Buffer.alloc(40) },
    ]);
    const taken: string[] = [];
    await expect(unpackWorkspace(archive, { maxBytes: 50, onFile: (file) => void taken.push(file.path) })).rejects.toThrow(
      "larger than 50 bytes",
    );
    expect(taken).toEqual(["small"]);
    await expect(
      unpackWorkspace(archive, {
        onFile: () => {
          throw new Error("store down");
        },
      }),
    ).rejects.toThrow("store down");
  });

  it("returns new and changed files but not unchanged ones", () => {
    const before = [
      { path: "same", content: Buffer.from("1") },
      { path: "edit", content: Buffer.from("1") },
    ];
    const after = [
      { path: "same", content: Buffer.from("1") },
      { path: "edit", content: Buffer.from("2") },
      { path: "new", content: Buffer.from("3") },
    ];
    expect(changedFiles(before, after).map((f) => f.path)).toEqual(["edit", "new"]);
  });
});
