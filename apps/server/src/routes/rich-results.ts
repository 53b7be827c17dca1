import { BINARY_MIME_TYPES, type CodeErrorJson, type CommandResult, type RichResult, type RichResultJson } from "@code-interpreter/core";
import type { Context } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf" };

/**
 * Maps rich results to their JSON, storing binary data over
 * RICH_RESULT_INLINE_MAX_BYTES in the file store (`{file_id}` in its place).
 * One per request: a result streamed as a `display` event and listed again in
 * the final answer is stored once.
 */
export function richResultMapper(server: ServerContext, c: Context<Env>) {
  const mapped = new WeakMap<RichResult, Promise<RichResultJson>>();
  let stored = 0;

  const store = async (mime: string, base64: string): Promise<string | { file_id: string }> => {
    // base64 is 4 characters per 3 bytes: decode only what may be over the threshold.
    if (base64.length * 0.75 <= server.config.RICH_RESULT_INLINE_MAX_BYTES) return base64;
    const bytes = Buffer.from(base64, "base64");
    if (bytes.length <= server.config.RICH_RESULT_INLINE_MAX_BYTES) return base64;
    stored += 1;
    try {
      const file = await server.store.save(bytes, `result-${stored}.${EXTENSIONS[mime] ?? "bin"}`, accessOf(c).owner);
      return { file_id: file.file_id };
    } catch {
      return base64; // the store would not keep it: the client still gets the data, inline
    }
  };

  const map = async (result: RichResult): Promise<RichResultJson> => {
    const data: Record<string, unknown> = {};
    for (const [mime, value] of Object.entries(result.data)) {
      data[mime] = (BINARY_MIME_TYPES as readonly string[]).includes(mime) && typeof value === "string" ? await store(mime, value) : value;
    }
    return {
      is_main_result: result.isMainResult,
      data: data as RichResultJson["data"],
      ...(result.chart ? { chart: result.chart } : {}),
    };
  };

  const one = (result: RichResult): Promise<RichResultJson> => {
    let json = mapped.get(result);
    if (!json) {
      json = map(result);
      mapped.set(result, json);
    }
    return json;
  };

  return {
    one,
    /** `results` and `error` of an answer. */
    async fields(result: CommandResult): Promise<{ results: RichResultJson[]; error: CodeErrorJson | null }> {
      const results: RichResultJson[] = [];
      for (const item of result.results ?? []) results.push(await one(item));
      return { results, error: result.error ?? null };
    },
  };
}
