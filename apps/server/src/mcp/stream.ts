import type { ExecuteResponse, RichResultJson } from "@code-interpreter/core";
import { ApiError, type ApiFetch, send } from "./api.js";

/** One server-sent event: its name and parsed JSON data. */
export interface ServerSentEvent {
  event: string;
  data: unknown;
}

/** The events of a `text/event-stream` body, as they arrive. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, "\n");
    let end = buffer.indexOf("\n\n");
    while (end !== -1) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) yield event;
      end = buffer.indexOf("\n\n");
    }
  }
}

function parseEvent(block: string): ServerSentEvent | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return undefined;
  return { event, data: JSON.parse(data.join("\n")) };
}

/** What a streamed run answers: the foreground route's JSON, put back together from the events. */
export type StreamedAnswer = ExecuteResponse & { execution_count?: number | null };

/**
 * Runs code through a streaming route (`/v1/execute/stream`, a session's
 * `/python/stream`) and puts the foreground answer back together, calling
 * `onOutput` with all the output so far after each chunk. A refusal before
 * the stream starts, and an `error` event, throw ApiError with the reason.
 */
export async function runStreamed(
  api: ApiFetch,
  path: string,
  body: unknown,
  signal: AbortSignal,
  onOutput: (outputSoFar: string) => void,
): Promise<StreamedAnswer> {
  const response = await send(api, "POST", path, body, signal);
  if (!response.body) throw new ApiError(502, "The stream ended before it started");
  let stdout = "";
  let stderr = "";
  let output = "";
  const displayed: RichResultJson[] = [];
  for await (const { event, data } of readEvents(response.body)) {
    if (event === "output") {
      const chunk = data as { stream: "stdout" | "stderr"; data: string };
      if (chunk.stream === "stdout") stdout += chunk.data;
      else stderr += chunk.data;
      output += chunk.data;
      onOutput(output);
    } else if (event === "display") {
      displayed.push(data as RichResultJson);
    } else if (event === "result") {
      const result = data as Omit<StreamedAnswer, "stdout" | "stderr">;
      return { stdout, stderr, ...result, results: result.results ?? displayed };
    } else if (event === "error") {
      throw new ApiError(500, (data as { message: string }).message);
    }
  }
  throw new ApiError(502, "The stream ended without a result");
}
