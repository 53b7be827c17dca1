import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { HttpClient } from "../http-client.js";

/** Reads a file argument, `-` meaning standard input. */
export async function readSource(path: string): Promise<string> {
  if (path !== "-") return readFile(path, "utf8");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Uploads `--file local[:path]` arguments and returns them as `{path, file_id}`
 * to stage (the path defaults to the file's name).
 */
export async function uploadInputs(client: HttpClient, specs: readonly string[]): Promise<{ path: string; file_id: string }[]> {
  const inputs = [];
  for (const spec of specs) {
    const split = spec.lastIndexOf(":");
    const local = split > 0 ? spec.slice(0, split) : spec;
    const path = split > 0 ? spec.slice(split + 1) : basename(spec);
    const uploaded = await client.uploadFile(basename(local), await readFile(local));
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
