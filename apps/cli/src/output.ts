/** How a command prints: for people by default, JSON with `--json`. */
export interface Output {
  json: boolean;
}

/** Prints a value as JSON (for scripts) or as the given human text. */
export function print(output: Output, value: unknown, human: string): void {
  process.stdout.write(output.json ? `${JSON.stringify(value, null, 2)}\n` : human.endsWith("\n") || human === "" ? human : `${human}\n`);
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
