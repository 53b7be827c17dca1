import { connect, type Socket } from "node:net";

/** What came back on a raw connection: status, headers, body text, and how many body bytes we sent first. */
export interface RawAnswer {
  status: number;
  head: string;
  body: string;
  sentBytes: number;
}

/**
 * Sends `head` (request line and headers, without the blank line), then
 * body chunks from `chunks` until the server answers or closes: for bodies
 * a `fetch` cannot send (lying Content-Length, endless chunked streams).
 */
export function rawRequest(url: string, head: string, chunks: () => Buffer | undefined): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    let sentBytes = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      const text = received.toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) {
        reject(new Error(`no HTTP answer (got ${JSON.stringify(text.slice(0, 200))})`));
        return;
      }
      const headText = text.slice(0, split);
      let body = text.slice(split + 4);
      if (/\r\ntransfer-encoding: chunked/i.test(headText)) body = dechunk(body);
      resolve({ status: Number(headText.split(" ")[1]), head: headText, body, sentBytes });
    };
    socket.on("data", (data) => {
      received = Buffer.concat([received, data]);
      const text = received.toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return;
      const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, split));
      if (length && received.length >= split + 4 + Number(length[1])) finish();
      if (/\r\n0\r\n\r\n$/.test(text)) finish();
    });
    socket.on("close", finish);
    socket.on("error", () => finish());
    const pump = () => {
      while (!done && socket.writable) {
        const chunk = chunks();
        if (!chunk) return;
        sentBytes += chunk.length;
        if (!socket.write(chunk)) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    socket.write(`${head}\r\n\r\n`, pump);
  });
}

/** An endless `Transfer-Encoding: chunked` body of `chunkBytes` chunks of JSON-ish filler, capped at `maxBytes`. */
export function chunkedFiller(prefix: string, chunkBytes: number, maxBytes: number): () => Buffer | undefined {
  let sent = 0;
  let first = true;
  return () => {
    if (sent >= maxBytes) return undefined;
    const data = first ? prefix + "x".repeat(chunkBytes - prefix.length) : "x".repeat(chunkBytes);
    first = false;
    sent += data.length;
    return Buffer.from(`${data.length.toString(16)}\r\n${data}\r\n`);
  };
}

function dechunk(body: string): string {
  let out = "";
  let rest = body;
  while (rest.length > 0) {
    const lineEnd = rest.indexOf("\r\n");
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!size) break;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
  return out;
}
