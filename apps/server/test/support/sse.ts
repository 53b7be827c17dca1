/** One server-sent event as a client sees it. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Parses complete events out of `buffer`; returns them and what is left (an event not yet complete). */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    const event: SseEvent = { event: "message", data: "" };
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") event.id = value;
      else if (field === "event") event.event = value;
      else if (field === "data") data.push(value);
    }
    event.data = data.join("\n");
    if (block.trim()) events.push(event);
  }
  return { events, rest };
}

/** Reads a stream's events; with `limit`, stops (and cancels the body, as a dropped connection) after that many. */
export async function readSse(response: Response, limit = Number.POSITIVE_INFINITY): Promise<SseEvent[]> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffer = "";
  while (events.length < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const parsed = parseSse(buffer);
    buffer = parsed.rest;
    events.push(...parsed.events);
  }
  if (events.length >= limit) await reader.cancel();
  return events.slice(0, limit === Number.POSITIVE_INFINITY ? undefined : limit);
}
