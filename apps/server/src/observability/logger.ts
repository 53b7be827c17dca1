import { type Logger, pino } from "pino";
import pretty from "pino-pretty";

export type { Logger };
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface LoggerOptions {
  /** @default LOG_LEVEL */
  level: LogLevel | "silent";
  /** `json`: one pino JSON object a line; `plain`: one readable line. @default LOG_FORMAT */
  format: "plain" | "json";
  /** Where lines go. @default standard error */
  destination?: NodeJS.WritableStream;
}

/**
 * The server's pino logger, writing to standard error. Lines carry fields,
 * never request bodies: user code, stdin and file contents stay out of logs.
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level,
    base: undefined,
    // Credentials must not reach a log even if a header object is logged by mistake.
    redact: { paths: ["authorization", "*.authorization", 'headers["authorization"]'], censor: "[redacted]" },
  };
  if (options.format === "json") return pino(settings, options.destination ?? pino.destination({ fd: 2, sync: true }));
  return pino(
    settings,
    pretty({
      destination: options.destination ?? 2,
      sync: true,
      colorize: !options.destination && process.stderr.isTTY && !process.env.NO_COLOR,
      ignore: "pid,hostname",
      translateTime: "SYS:yyyy-mm-dd'T'HH:MM:ss.l",
      singleLine: true,
    }),
  );
}
