import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { changedFiles, packWorkspace, unpackWorkspace } from "./workspace-tar.js";

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
