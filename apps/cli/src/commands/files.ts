import { readFile, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import type { Command } from "commander";
import type { HttpClient } from "../http-client.js";
import { type Output, print, table } from "../output.js";

/** `files upload|ls|get|rm`. */
export function registerFiles(program: Command, context: () => { client: HttpClient; output: Output }): void {
  const files = program.command("files").description("manage stored files");
  files
    .command("upload")
    .description("upload a file; prints its file_id")
    .argument("<path>", "local file")
    .option("-n, --name <name>", "file name to store (default: the local name)")
    .action(async (path: string, options: { name?: string }) => {
      const { client, output } = context();
      const uploaded = await client.uploadFile(options.name ?? basename(path), await readFile(path));
      print(output, uploaded, uploaded.file_id);
    });
  files
    .command("ls")
    .description("list stored files")
    .action(async () => {
      const { client, output } = context();
      const listed = await client.listFiles();
      const rows = [
        ["FILE_ID", "SIZE", "UPLOADED", "NAME"],
        ...listed.map((f) => [f.file_id, String(f.size_bytes), f.upload_time, f.filename]),
      ];
      print(output, { files: listed }, listed.length ? table(rows) : "no files");
    });
  files
    .command("get")
    .description("download a file")
    .argument("<file_id>")
    .option("-o, --output <path>", "where to write it (- for stdout; default: its stored name)")
    .action(async (fileId: string, options: { output?: string }) => {
      const { client, output } = context();
      const bytes = await client.downloadFile(fileId);
      if (options.output === "-") {
        process.stdout.write(bytes);
        return;
      }
      const stored = (await client.listFiles()).find((f) => f.file_id === fileId);
      const target = options.output ?? basename(stored?.filename ?? fileId);
      await writeFile(target, bytes);
      print(output, { file_id: fileId, path: target, size_bytes: bytes.length }, `saved ${target} (${bytes.length} bytes)`);
    });
  files
    .command("rm")
    .description("delete a file")
    .argument("<file_id>")
    .action(async (fileId: string) => {
      const { client, output } = context();
      await client.deleteFile(fileId);
      print(output, { deleted: fileId }, `deleted ${fileId}`);
    });
}
