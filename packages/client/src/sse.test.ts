import { describe, expect, it } from "vitest";
import { readEvents } from "./sse.js";

function body(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function all(stream: ReadableStream<Uint8Array>) {
  const events = [];
  for await (const event of readEvents(stream)) events.push(event);
  return events;
}

describe("readEvents", () => {
  it("joins events split across chunks, in any line-ending style, and skips comments", async () => {
    const events = await all(body("event: out", 'put\r\ndata: {"a":', "1}\r", "\n\r\n: keep-alive\n\nevent: result\ndata: x\ndata: y\n\n"));
    expect(events).toEqual([
      { event: "output", data: '{"a":1}' },
      { event: "result", data: "x\ny" },
    ]);
  });

  it("drops an event the stream cut off before its blank line", async () => {
    expect(await all(body("event: output\ndata: 1\n\nevent: result\ndata: 2"))).toEqual([{ event: "output", data: "1" }]);
  });
});
