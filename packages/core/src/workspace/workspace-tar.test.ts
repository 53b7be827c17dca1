import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { changedFiles, packWorkspace, readContent, unpackWorkspace, type WorkspaceFileStream, WorkspaceUnpacker } from "./workspace-tar.js";

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
    const onFile = async (file: WorkspaceFileStream) => {
      overlapped ||= busy > 0;
      busy += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      const content = await readContent(file.content);
      taken.push(`${file.path}:${file.size}:${content.toString() === file.path[0]?.repeat(1000)}`);
      busy -= 1;
    };
    expect(await unpackWorkspace(await packWorkspace(files), { onFile })).toEqual([]);
    expect(taken).toEqual(["a.txt:1000:true", "b.txt:1000:true", "c.txt:1000:true"]);
    expect(overlapped).toBe(false);
  });

  it("goes on to the next file whether onFile read all of one, part of it or none", async () => {
    const files = ["skip", "part", "all"].map((path) => ({ path, content: Buffer.alloc(300 * 1024, path) }));
    const taken: string[] = [];
    await unpackWorkspace(await packWorkspace(files), {
      onFile: async (file) => {
        if (file.path === "skip") return void taken.push("skip");
        if (file.path === "part") {
          for await (const chunk of file.content) {
            taken.push(`part:${chunk.length > 0}`);
            break;
          }
          return;
        }
        taken.push(`all:${(await readContent(file.content)).equals(files[2]?.content as Buffer)}`);
      },
    });
    expect(taken).toEqual(["skip", "part:true", "all:true"]);
  });

  it("asks the writer to wait while onFile is behind, even in the middle of a file, then takes the rest", async () => {
    const MiB = 1024 * 1024;
    const files = [
      { path: "big", content: Buffer.alloc(6 * MiB, 7) },
      { path: "after", content: Buffer.from("z") },
    ];
    const archive = await packWorkspace(files);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const taken: string[] = [];
    const unpacker = new WorkspaceUnpacker({
      onFile: async (file) => {
        let size = 0;
        for await (const chunk of file.content) {
          // A store that stalls after the first chunk.
          if (size === 0) await held;
          size += chunk.length;
        }
        taken.push(`${file.path}:${size}`);
      },
    });
    // Fed as a runner's frames would come. While the taker stalls, the unpacker must stay refused
    // (never drained): what it has accepted is all the memory the snapshot takes meanwhile.
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
    expect(accepted).toBeLessThan(2 * MiB); // of a 6 MiB file: 1 MiB read ahead and a few chunks
    release();
    await unpacker.whenDrained();
    for (; accepted < archive.length; accepted += chunk) {
      if (!unpacker.write(archive.subarray(accepted, accepted + chunk))) await unpacker.whenDrained();
    }
    expect(await unpacker.finish()).toEqual([]);
    expect(taken).toEqual([`big:${6 * MiB}`, "after:1"]);
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
