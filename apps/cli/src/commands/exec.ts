import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { CodeInterpreterClient, ExecuteRequest } from "@code-interpreter/client";
import type { Command } from "commander";
import { note, type Output, print, TIMEOUT_EXIT, warn } from "../output.js";
import { RichResultPrinter } from "../rich-output.js";
import {
  type Context,
  collect,
  integer,
  type NetworkFlags,
  networkOptions,
  networkRequest,
  noteNetwork,
  readSource,
  runtimeOption,
  uploadInputs,
} from "./shared.js";

interface ExecOptions extends NetworkFlags {
  stdin?: string;
  timeout?: number;
  lastLine: boolean;
  file: string[];
  download?: string;
  language: "python" | "bash" | "javascript";
  runtime?: "default" | "gvisor";
  results: string;
  background: boolean;
}

/** `exec <file|->`: runs code (Python by default), streaming its output and rich results; exits with the code's exit code. */
export function registerExec(program: Command, context: Context): void {
  const exec = program
    .command("exec")
    .description("run a Python file (or - for stdin) in a fresh sandbox; --language for bash or JavaScript")
    .argument("<file>", "file to run, or - to read it from stdin")
    .option("--stdin <text>", "text to give the code on its stdin")
    .option("-t, --timeout <ms>", "timeout in milliseconds", integer)
    .option("--no-last-line", "do not print the value of a bare last expression")
    .option("-f, --file <local[:path]>", "upload a local file and place it in the workspace (repeatable)", collect, [])
    .option("-d, --download <dir>", "save the files the code created or changed into this directory")
    .option("-l, --language <language>", "python, bash or javascript", "python")
    .addOption(runtimeOption())
    .option("--background", "start it in the background and print its execution id (see `executions get|logs|rm`)", false)
    .option(
      "--results <dir>",
      "save the images the code displays (plots, PNG, SVG, JPEG, PDF) into this directory",
      "code-interpreter-results",
    )
    .action(async (file: string, options: ExecOptions) => {
      const { client, output } = context();
      const body: ExecuteRequest = {
        code: await readSource(file),
        stdin: options.stdin ?? null,
        last_line_interactive: options.lastLine,
        files: await uploadInputs(client, output, options.file),
        language: options.language,
        ...(options.runtime ? { runtime: options.runtime } : {}),
        ...networkRequest(options),
      };
      const rich = new RichResultPrinter(client, output, options.results);
      if (options.timeout !== undefined) body.timeout_ms = options.timeout;

      if (options.background) {
        const accepted = await client.submitExecution(body);
        print(output, accepted, accepted.execution_id);
        return;
      }
      if (output.json) {
        const result = await client.execute(body);
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        if (options.download) await download(client, output, result.files, options.download);
        process.exitCode = exitCodeOf(result);
        return;
      }
      // The stream resumes by itself after a dropped connection (the client's reconnects).
      for await (const event of client.executeStream(body)) {
        if (event.type === "output") (event.data.stream === "stdout" ? process.stdout : process.stderr).write(event.data.data);
        else if (event.type === "display") await rich.show(event.data);
        else if (event.type === "error") throw new Error(event.data.message);
        else {
          const result = event.data;
          if (result.timed_out) warn(`[timed out after ${body.timeout_ms ?? 2000} ms]`);
          for (const created of result.files) note(output, `[file] ${created.path}  ${created.file_id}`);
          for (const skipped of result.skipped_files ?? []) warn(`[file not kept] ${skipped.path}: ${skipped.reason}`);
          noteNetwork(output, result.network);
          if (options.download) await download(client, output, result.files, options.download);
          process.exitCode = exitCodeOf(result);
        }
      }
    });
  networkOptions(exec);
}

function exitCodeOf(result: { exit_code: number | null; timed_out: boolean }): number {
  return result.timed_out ? TIMEOUT_EXIT : (result.exit_code ?? 1);
}

async function download(
  client: CodeInterpreterClient,
  output: Output,
  files: { path: string; file_id: string | null }[],
  dir: string,
): Promise<void> {
  const root = resolve(dir);
  for (const file of files) {
    if (!file.file_id) continue;
    const target = resolve(join(root, file.path));
    // The server validates paths; refuse anything that would still land outside the directory.
    if (!target.startsWith(root + sep)) throw new Error(`refusing to write ${file.path} outside ${dir}`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, (await client.downloadFile(file.file_id)).content);
    note(output, `[saved] ${target}`);
  }
}
