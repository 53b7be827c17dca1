import { writeFile } from "node:fs/promises";
import { basename } from "node:path";
import type { Command } from "commander";
import { confirm, print, table } from "../output.js";
import { type Context, registerRemove, uploadLocalFile } from "./shared.js";

/** `files upload|ls|get|rm`. */
export function registerFiles(program: Command, context: Context): void {
  const files = program.command("files").description("manage stored files");
  files
    .command("upload")
    .description("upload a file; prints its file_id (shows progress for large files on a terminal)")
    .argument("<path>", "local file")
    .option("-n, --name <name>", "file name to store (default: the local name)")
    .action(async (path: string, options: { name?: string }) => {
      const { client, output } = context();
      const uploaded = await uploadLocalFile(client, output, path, options.name);
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
      const { filename, content } = await client.downloadFile(fileId);
      if (options.output === "-") {
        process.stdout.write(content);
        return;
      }
      const target = options.output ?? basename(filename ?? fileId);
      await writeFile(target, content);
      confirm(output, { file_id: fileId, path: target, size_bytes: content.length }, `saved ${target} (${content.length} bytes)`);
    });
  registerRemove(files, context, { description: "delete a file", argument: "file_id", remove: (client, id) => client.deleteFile(id) });
}
