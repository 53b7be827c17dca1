import type { Output } from "./output.js";

/** A one-line progress display on stderr. */
export interface Progress {
  /** Replaces the line's text. */
  update(text: string): void;
  /** Clears the line. */
  done(): void;
}

const silent: Progress = { update: () => {}, done: () => {} };

/**
 * A progress line that redraws itself in place, only when stderr is a
 * terminal and `--quiet` is off: piped output and logs never see it.
 */
export function createProgress(output: Output, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (output.quiet || !stream.isTTY) return silent;
  let shown = false;
  let last = 0;
  return {
    update(text) {
      // Redrawing on every chunk would flood a slow terminal.
      const now = Date.now();
      if (shown && now - last < 100) return;
      last = now;
      const width = Math.max((stream.columns || 80) - 1, 10);
      stream.write(`\r\u001b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
      shown = true;
    },
    done() {
      if (shown) stream.write("\r\u001b[2K");
      shown = false;
    },
  };
}

/** `12.3 MB`, `512 B`: sizes for people. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
