import type { StreamEvent } from "./types.js";

/** One server-sent event as it was on the wire. */
export interface RawEvent {
  event: string;
  data: string;
  /** The event's `id:` field, when it had one (resumable streams). */
  id?: string;
}

/** Splits a `text/event-stream` body into events (`event:` and `data:` fields; comments ignored). */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<RawEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "message";
  let data: string[] = [];
  let id: string | undefined;
  try {
    while (true) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline = buffer.search(/\r\n|\r|\n/);
      while (newline !== -1) {
        // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
        if (!done && newline === buffer.length - 1 && buffer[newline] === "\r") break;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (data.length > 0) yield { event, data: data.join("\n"), ...(id === undefined ? {} : { id }) };
          event = "message";
          data = [];
          id = undefined;
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
        newline = buffer.search(/\r\n|\r|\n/);
      }
      if (done) return;
    }
  } finally {
    // Stopping early (break, error) cancels the body, which tells the server to stop the execution.
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** The typed events of an execution stream; other event names are skipped. */
export async function* readExecutionEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  for await (const raw of readEvents(body)) {
    if (raw.event === "output" || raw.event === "display" || raw.event === "result" || raw.event === "error") {
      yield { type: raw.event, data: JSON.parse(raw.data), ...(raw.id === undefined ? {} : { id: raw.id }) } as StreamEvent;
    }
  }
}
