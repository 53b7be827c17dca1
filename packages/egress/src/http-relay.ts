import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** Headers about one connection, never passed on (RFC 9110 7.6.1), and the proxy's own. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/** The headers to pass on: all but the hop-by-hop ones and those the Connection header names. */
export function forwardHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = String(headers.connection ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase());
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.includes(name) && !named.includes(name)));
}

/** How a refusal's body begins: denied by a rule (403), the upstream failed (502), or the request is not one the proxy takes (400). */
function bodyPrefix(status: number): string {
  return status === 403 ? "egress denied" : status === 502 ? "egress failed" : "egress proxy";
}

/** Answers a parsed request with a refusal whose body says why. */
export function refuseResponse(response: ServerResponse, status: number, reason: string): void {
  const body = `${bodyPrefix(status)}: ${reason}\n`;
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  response.end(body);
}

/** Answers on a raw socket (CONNECT, upgrades) with a refusal whose body says why, then closes it. */
export function refuseSocket(socket: Socket, status: 403 | 502, reason: string): void {
  const body = `${bodyPrefix(status)}: ${reason}\n`;
  const statusText = status === 403 ? "Forbidden" : "Bad Gateway";
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1_000).unref();
}
