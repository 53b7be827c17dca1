import { InvalidRequestError, PayloadTooLargeError } from "@code-interpreter/core";
import type { Context } from "hono";
import type { z } from "zod";
import type { Env } from "../env.js";

/**
 * Reads a JSON body of at most `maxBytes` (refused from Content-Length before
 * reading, or as soon as the stream passes it) and validates it (with the
 * schema `schema(json)` picks, when it is a function). Bad JSON,
 * the wrong content type and invalid fields are 422s naming the field.
 * With `optional`, no body at all counts as `{}`.
 */
export async function readJsonBody<T extends z.ZodType>(
  c: Context<Env>,
  schema: T | ((json: unknown) => T),
  maxBytes: number,
  options: { optional?: boolean } = {},
): Promise<z.infer<T>> {
  const type = c.req.header("content-type") ?? "";
  if (type && !/^application\/(.+\+)?json\b/i.test(type)) {
    throw new InvalidRequestError({ message: `Content-Type must be application/json, not ${JSON.stringify(type)}` });
  }
  const declared = Number(c.req.header("content-length"));
  const tooLarge = () => new PayloadTooLargeError({ message: `Request body is larger than ${maxBytes} bytes (MAX_REQUEST_BODY_MB)` });
  if (declared > maxBytes) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (c.req.raw.body) {
    for await (const chunk of c.req.raw.body) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  }
  let json: unknown;
  if (size === 0 && options.optional) json = {};
  else
    try {
      json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      throw new InvalidRequestError({ message: size === 0 ? "Request body is required (JSON)" : "Request body is not valid JSON" });
    }
  const parsed = (typeof schema === "function" ? schema(json) : schema).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") ?? "";
    // A message that already starts with its field name (onyx's `timeout_ms exceeds maximum of N ms`) keeps its words first.
    const where = field && !issue?.message.startsWith(`${field} `) ? `${field}: ` : "";
    throw new InvalidRequestError({ message: `${where}${issue?.message ?? "invalid request"}` });
  }
  return parsed.data;
}
