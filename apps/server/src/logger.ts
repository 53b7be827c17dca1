/** Log levels, most verbose first. */
const LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LEVELS)[number];

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** One line per event on stderr, plain text or JSON (LOG_FORMAT), from LOG_LEVEL up. */
export function createLogger(options: { level: LogLevel | "silent"; format: "plain" | "json" }): Logger {
  const threshold = options.level === "silent" ? LEVELS.length : LEVELS.indexOf(options.level);
  const write =
    (level: LogLevel) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      if (LEVELS.indexOf(level) < threshold) return;
      const time = new Date().toISOString();
      const line =
        options.format === "json"
          ? JSON.stringify({ time, level, msg: message, ...fields })
          : `${time} ${level.toUpperCase().padEnd(5)} ${message}${Object.entries(fields)
              .map(([key, value]) => ` ${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
              .join("")}`;
      process.stderr.write(`${line}\n`);
    };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
