import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LiveServer, startLiveServer } from "./fixture.js";

/**
 * Sends a multipart upload of `size` bytes the way httpx and requests do: the
 * whole body first, the answer read only after it (a raw socket, since Node's
 * own client reads an early answer). Rejects if the server cuts the upload off.
 */
function uploadWholeBodyFirst(url: string, size: number): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  const boundary = "onyxcompatboundary";
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="large.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(1024 * 1024, "x");
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    socket.on("error", reject);
    socket.once("connect", async () => {
      const write = (data: Buffer) => (socket.write(data) ? undefined : new Promise((drained) => socket.once("drain", drained)));
      await write(
        Buffer.from(
          `POST /v1/files HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
            `Content-Length: ${head.length + size + tail.length}\r\nConnection: close\r\n\r\n`,
        ),
      );
      await write(head);
      for (let sent = 0; sent < size; sent += chunk.length) await write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
      await write(tail);
      // Only now is the answer read.
      const received: Buffer[] = [];
      socket.on("data", (data: Buffer) => received.push(data));
      socket.on("end", () => {
        const text = Buffer.concat(received).toString("utf8");
        resolve({ status: Number(text.split(" ")[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) });
      });
    });
  });
}

describe("onyx clients over real HTTP", { timeout: 120_000 }, () => {
  let server: LiveServer;
  beforeAll(async () => {
    server = await startLiveServer({ MAX_FILE_SIZE_MB: "40", SANDBOX_POOL_MAX: "0" });
  });
  afterAll(() => server?.stop());

  // onyx's own test uploads 101 MB against its 100 MB limit with such a client; here 70 MB against 40.
  it("a client that sends the whole upload before reading gets the 413, not a broken pipe", async () => {
    const answer = await uploadWholeBodyFirst(server.url, 70 * 1024 * 1024);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ detail: "File size exceeds maximum of 40 MB (MAX_FILE_SIZE_MB)" });
  });
});
