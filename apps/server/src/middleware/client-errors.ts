import type { Server } from "node:http";
import type { Duplex } from "node:stream";

const ANSWERS: Record<string, [status: number, reason: string, detail: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout", "The request was not received in time (REQUEST_TIMEOUT_MS); send it faster"],
  HPE_HEADER_OVERFLOW: [431, "Request Header Fields Too Large", "Request headers are too large"],
};

/**
 * Answers requests Node refuses before any route sees them (a client too slow
 * to send its request, malformed HTTP, oversized headers) with the API's JSON
 * `{"detail": …}` instead of Node's empty answer, then closes the connection.
 */
export function answerClientErrors(server: Server): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex & { bytesWritten?: number }) => {
    // Part of an answer is already out: nothing sensible can follow it.
    if (!socket.writable || (socket.bytesWritten ?? 0) > 0) {
      socket.destroy();
      return;
    }
    const [status, reason, detail] = ANSWERS[error.code ?? ""] ?? [400, "Bad Request", "Malformed HTTP request"];
    const body = JSON.stringify({ detail });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

/** Node server options that bound how long a client may take to send its request. */
export function requestTimeouts(requestTimeoutMs: number) {
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(requestTimeoutMs, 60_000),
    // How often Node looks for clients past these limits; its default (30 s) would let them linger.
    connectionsCheckingInterval: Math.min(1000, requestTimeoutMs),
  };
}
