import { z } from "zod";
import type { Config } from "../config.js";

/** The `background` field every route that runs code takes. */
const backgroundField = z.boolean("background must be true or false").default(false);

/**
 * The request schema of a route that runs code, picked by the body's
 * `background`: a foreground request's `timeout_ms` is capped at
 * MAX_EXEC_TIMEOUT_MS (onyx's message), a background one's at MAX_BACKGROUND_TIMEOUT_MS.
 */
export function runSchemas<T extends z.ZodObject>(
  config: Config,
  create: (limits: { maxExecTimeoutMs: number }) => T,
  defaultTimeoutMs: number,
) {
  const foreground = create({ maxExecTimeoutMs: config.MAX_EXEC_TIMEOUT_MS }).extend({ background: backgroundField });
  const max = config.MAX_BACKGROUND_TIMEOUT_MS;
  const background = create({ maxExecTimeoutMs: config.MAX_EXEC_TIMEOUT_MS }).extend({
    background: backgroundField,
    timeout_ms: z
      .int("timeout_ms must be an integer")
      .min(1, "timeout_ms must be at least 1")
      .max(max, `timeout_ms exceeds maximum of ${max} ms for a background execution (MAX_BACKGROUND_TIMEOUT_MS)`)
      .default(Math.min(defaultTimeoutMs, max)),
  });
  type Body = z.output<T> & { background: boolean; timeout_ms: number };
  return (json: unknown) =>
    (typeof json === "object" && json !== null && (json as { background?: unknown }).background === true
      ? background
      : foreground) as unknown as z.ZodType<Body>;
}
