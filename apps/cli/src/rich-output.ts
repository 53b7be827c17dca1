import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { CodeInterpreterClient, RichResult } from "@code-interpreter/client";
import { note, type Output, table } from "./output.js";

const IMAGE_EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/svg+xml": "svg",
  "application/pdf": "pdf",
};

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'", nbsp: " " };

/** Text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed. */
function textOf(html: string): string {
  return html
    .replace(/<[^>]*>/g, "")
    .replace(/&(#?\w+);/g, (entity, name: string) => ENTITIES[name] ?? entity)
    .replace(/\s+/g, " ")
    .trim();
}

/** The first `<table>` of an HTML result (a DataFrame's) as aligned text columns, or undefined when there is none. */
export function htmlTableAsText(html: string): string | undefined {
  const body = /<table[\s\S]*?<\/table>/i.exec(html)?.[0];
  if (!body) return undefined;
  const rows = [...body.matchAll(/<tr[\s\S]*?<\/tr>/gi)].map((row) =>
    [...row[0].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/gi)].map((cell) => textOf(cell[1] ?? "")),
  );
  const width = Math.max(0, ...rows.map((row) => row.length));
  if (!width) return undefined;
  return table(rows.filter((row) => row.length).map((row) => [...row, ...Array(width - row.length).fill("")]));
}

/**
 * Shows rich results in a terminal: HTML tables as text, Markdown and plain
 * text as they are, images (and PDFs) saved into `dir`, named by their order.
 * The main result's plain text is already on stdout (the code's last expression), so only its other forms are shown.
 */
export class RichResultPrinter {
  private saved = 0;

  constructor(
    private readonly client: CodeInterpreterClient,
    private readonly output: Output,
    /** The folder images go to; made when the first one arrives. */
    readonly dir: string,
  ) {}

  async show(result: RichResult): Promise<void> {
    const data = result.data as Record<string, unknown>;
    for (const [mime, extension] of Object.entries(IMAGE_EXTENSIONS)) {
      const value = data[mime];
      if (value === undefined) continue;
      const path = await this.save(mime, extension, value);
      note(this.output, `[${mime}] saved ${path}`);
      return;
    }
    const html = typeof data["text/html"] === "string" ? htmlTableAsText(data["text/html"]) : undefined;
    if (result.is_main_result && !html) return;
    const text =
      html ??
      (typeof data["text/markdown"] === "string" ? data["text/markdown"] : undefined) ??
      (data["application/json"] !== undefined ? JSON.stringify(data["application/json"], null, 2) : undefined) ??
      String(data["text/plain"] ?? "");
    if (result.is_main_result) note(this.output, "[table]");
    process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  private async save(mime: string, extension: string, value: unknown): Promise<string> {
    let bytes: Uint8Array;
    if (typeof value === "object" && value !== null && "file_id" in value)
      bytes = (await this.client.downloadFile(String(value.file_id))).content;
    else if (mime === "image/svg+xml") bytes = Buffer.from(String(value));
    else bytes = Buffer.from(String(value), "base64");
    await mkdir(this.dir, { recursive: true });
    this.saved += 1;
    const path = join(resolve(this.dir), `result-${this.saved}.${extension}`);
    await writeFile(path, bytes);
    return path;
  }
}
