import { openAsBlob } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { CodeInterpreterClient, FileUploadResponse } from "@code-interpreter/client";
import { SANDBOX_RUNTIMES } from "@code-interpreter/core/sandbox";
import { type Command, Option } from "commander";
import { confirm, note, type Output } from "../output.js";
import { createProgress, formatBytes } from "../progress.js";

/** What a client command needs: the API client and how to print. */
export type Context = () => { client: CodeInterpreterClient; output: Output };

/** `--runtime`: the sandbox runtime to ask for; the server's default (SANDBOX_RUNTIME) when left out. */
export function runtimeOption(): Option {
  return new Option("--runtime <runtime>", "sandbox runtime, among those the server offers (see `capabilities`)").choices(SANDBOX_RUNTIMES);
}

/** `--allow-out`, `--deny-out` and `--secret`, as commander gives them. */
export interface NetworkFlags {
  allowOut: string[];
  denyOut: string[];
  secret: string[];
}

/** Adds `--allow-out`, `--deny-out` and `--secret` (each repeatable) to a command that makes a sandbox. */
export function networkOptions(command: Command): Command {
  return command
    .option(
      "--allow-out <entry>",
      "let the code reach a domain, *.domain, IP or CIDR through the server's egress proxy (repeatable; see `capabilities`)",
      collect,
      [],
    )
    .option("--deny-out <entry>", "never let it reach this IP or CIDR, whatever --allow-out says (repeatable)", collect, [])
    .option("--secret <name>", "a secret the server's operator configured, added by the proxy as a header (repeatable)", collect, []);
}

/** The request's `network` and `secrets` from the flags: nothing at all when none was given (no network, as ever). */
export function networkRequest(flags: NetworkFlags) {
  const network = flags.allowOut.length || flags.denyOut.length ? { network: { allow_out: flags.allowOut, deny_out: flags.denyOut } } : {};
  return { ...network, ...(flags.secret.length ? { secrets: flags.secret } : {}) };
}

/** One `[network]` note per destination the code tried (answers have them only when the request had `network`). */
export function noteNetwork(
  output: Output,
  attempts: readonly { host: string; port: number; allowed: boolean; reason?: string }[] | undefined,
): void {
  for (const attempt of attempts ?? []) {
    const where = `${attempt.host.includes(":") ? `[${attempt.host}]` : attempt.host}:${attempt.port}`;
    note(output, `[network] ${attempt.allowed ? "allowed" : "denied"} ${where}${attempt.reason ? `: ${attempt.reason}` : ""}`);
  }
}

/** Reads a file argument, `-` meaning standard input. */
export async function readSource(path: string): Promise<string> {
  if (path !== "-") return readFile(path, "utf8");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Files from this size on show upload progress (on a terminal). */
const PROGRESS_FROM_BYTES = 1024 * 1024;

/** Uploads a local file, streamed from disk, with a progress line for large files on a terminal. */
export async function uploadLocalFile(client: CodeInterpreterClient, output: Output, path: string, name = basename(path)) {
  const file = await openAsBlob(path);
  if (file.size < PROGRESS_FROM_BYTES) return client.uploadFile(file, name);
  const progress = createProgress(output);
  try {
    return await client.uploadFile(file, name, {
      onProgress: (sent, total) =>
        progress.update(`uploading ${name}  ${formatBytes(sent)} / ${formatBytes(total)} (${Math.floor((sent / total) * 100)}%)`),
    });
  } finally {
    progress.done();
  }
}

/**
 * Uploads `--file local[:path]` arguments and returns them as `{path, file_id}`
 * to stage (the path defaults to the file's name).
 */
export async function uploadInputs(
  client: CodeInterpreterClient,
  output: Output,
  specs: readonly string[],
): Promise<{ path: string; file_id: string }[]> {
  const inputs = [];
  for (const spec of specs) {
    const split = spec.lastIndexOf(":");
    const local = split > 0 ? spec.slice(0, split) : spec;
    const path = split > 0 ? spec.slice(split + 1) : basename(spec);
    const uploaded: FileUploadResponse = await uploadLocalFile(client, output, local);
    inputs.push({ path, file_id: uploaded.file_id });
  }
  return inputs;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new Error(`not an integer: ${value}`);
  return parsed;
}

/** What an `rm <id>` command deletes: its help line, the id's argument name, and the client call. */
export interface RemoveCommand {
  description: string;
  argument: string;
  remove: (client: CodeInterpreterClient, id: string) => Promise<void>;
}

/** `<parent> rm <id>`: deletes one thing by its id and confirms it (`{"deleted": id}` as JSON). */
export function registerRemove(parent: Command, context: Context, { description, argument, remove }: RemoveCommand): void {
  parent
    .command("rm")
    .description(description)
    .argument(`<${argument}>`)
    .action(async (id: string) => {
      const { client, output } = context();
      await remove(client, id);
      confirm(output, { deleted: id }, `deleted ${id}`);
    });
}
