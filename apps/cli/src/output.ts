import { palette } from "./style.js";

/** How a command prints: for people by default, JSON with `--json`; `--quiet` drops notes and progress. */
export interface Output {
  json: boolean;
  quiet: boolean;
}

/** Prints a value as JSON (for scripts) or as the given human text. */
export function print(output: Output, value: unknown, human: string): void {
  process.stdout.write(output.json ? `${JSON.stringify(value, null, 2)}\n` : human.endsWith("\n") || human === "" ? human : `${human}\n`);
}

/** Prints a confirmation ("deleted …") for people; nothing with `--quiet`, JSON with `--json`. */
export function confirm(output: Output, value: unknown, human: string): void {
  if (output.quiet && !output.json) return;
  print(output, value, human);
}

/** A side note on stderr (`[saved] …`), dimmed on a terminal; nothing with `--quiet`. */
export function note(output: Output, text: string): void {
  if (output.quiet) return;
  process.stderr.write(`${palette(process.stderr).dim(text)}\n`);
}

/** A warning on stderr (`[timed out]`), always shown, yellow on a terminal. */
export function warn(text: string): void {
  process.stderr.write(`${palette(process.stderr).yellow(text)}\n`);
}

/** A table with aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Exit code of the CLI itself when the server refused or could not be reached. */
export const API_ERROR_EXIT = 2;
/** Exit code of `exec` and `session bash` when the code timed out (like timeout(1)). */
export const TIMEOUT_EXIT = 124;
