// The tests' own "internet" on loopback, and clients that reach it through a
// sandbox's proxy socket the way the in-sandbox forwarder does.
import { once } from "node:events";
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, connect as netConnect, type Socket } from "node:net";
import { createSecureContext, type TLSSocket, connect as tlsConnect } from "node:tls";
import { CertificateAuthority } from "../src/certificate-authority.js";

/** What an upstream saw: each request's host and headers. */
export interface Seen {
  host: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
}

/** An HTTP and an HTTPS server on loopback (the HTTPS one with certificates for any name, from a test CA). */
export interface Upstreams {
  httpPort: number;
  httpsPort: number;
  testCa: string;
  seen: Seen[];
  /** Sockets still open on the upstream side (the HTTPS server's). */
  openSockets: Set<Socket>;
  close(): Promise<void>;
}

export async function startUpstreams(): Promise<Upstreams> {
  const authority = await CertificateAuthority.create("egress tests' upstream CA");
  const seen: Seen[] = [];
  const openSockets = new Set<Socket>();
  const handler = (request: import("node:http").IncomingMessage, response: import("node:http").ServerResponse) => {
    seen.push({ host: request.headers.host, url: request.url, headers: request.headers });
    const url = new URL(request.url ?? "/", "http://upstream");
    if (url.pathname === "/redirect") {
      response.writeHead(302, { location: url.searchParams.get("to") ?? "/" }).end();
    } else if (url.pathname === "/bytes") {
      const size = Number(url.searchParams.get("size") ?? "0");
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": size }).end(Buffer.alloc(size, 120));
    } else if (url.pathname === "/hang") {
      response.writeHead(200, { "content-type": "text/plain" });
      response.write("started\n");
    } else {
      response.writeHead(200, { "content-type": "text/plain" }).end(`hello from ${request.headers.host}\n`);
    }
  };
  const http = createHttpServer(handler);
  const contexts = new Map<string, ReturnType<typeof createSecureContext>>();
  const contextFor = (name: string) => {
    let context = contexts.get(name);
    if (!context) {
      const leaf = authority.leafFor(name);
      context = createSecureContext({ cert: leaf.certificate, key: leaf.key });
      contexts.set(name, context);
    }
    return context;
  };
  const fallback = authority.leafFor("files.example.test");
  const https = createHttpsServer(
    { cert: fallback.certificate, key: fallback.key, SNICallback: (name, callback) => callback(null, contextFor(name)) },
    handler,
  );
  https.on("connection", (socket: Socket) => {
    openSockets.add(socket);
    socket.once("close", () => openSockets.delete(socket));
  });
  const httpPort = await listen(http);
  const httpsPort = await listen(https);
  return {
    httpPort,
    httpsPort,
    testCa: authority.certificatePem,
    seen,
    openSockets,
    async close() {
      http.closeAllConnections();
      https.closeAllConnections();
      await Promise.all([new Promise((resolve) => http.close(resolve)), new Promise((resolve) => https.close(resolve))]);
    },
  };
}

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** An answer as a client got it. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A plain-HTTP request through the proxy (absolute-form), as HTTP_PROXY makes clients send it. */
export function proxiedHttp(socketPath: string, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { socketPath, agent: false, method: "GET", path: url, headers: { host: new URL(url).host, ...headers } },
      (response) => collectAnswer(response, resolve, reject),
    );
    request.on("error", reject);
    request.end();
  });
}

/** The proxy's answer to CONNECT: 200 and the tunnel's socket, or the refusal. */
export type ConnectResult = { status: 200; socket: Socket } | { status: number; body: string };

export function connectThrough(socketPath: string, target: string, headers: Record<string, string> = {}): Promise<ConnectResult> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ socketPath, method: "CONNECT", path: target, headers: { host: target, ...headers } });
    request.on("connect", (response, socket: Socket, head: Buffer) => {
      if (response.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve({ status: 200, socket });
        return;
      }
      const chunks: Buffer[] = [head];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("close", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    request.on("error", reject);
    request.end();
  });
}

/** CONNECT that must succeed: the tunnel's socket. */
export async function tunnelThrough(socketPath: string, target: string): Promise<Socket> {
  const result = await connectThrough(socketPath, target);
  if (!("socket" in result)) throw new Error(`CONNECT ${target} answered ${result.status}: ${result.body}`);
  return result.socket;
}

/** TLS over an open tunnel, trusting `ca`; resolves once the handshake is done. */
export function startTls(socket: Socket, servername: string, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, servername, ca });
    tls.once("secureConnect", () => resolve(tls));
    tls.once("error", reject);
  });
}

/** One HTTPS GET over an established TLS socket. */
export function httpsGet(tls: TLSSocket, host: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The socket is TLS already: plain HTTP over it, on this one connection.
    const request = httpRequest({ path, headers: { host, ...headers }, createConnection: () => tls }, (response) =>
      collectAnswer(response, resolve, reject),
    );
    request.on("error", reject);
    request.end();
  });
}

/** A TCP port on loopback relayed to the proxy socket: what the in-sandbox forwarder does, so curl can use it as its proxy. */
export async function startRelay(socketPath: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    const upstream = netConnect(socketPath);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Waits until `check` holds, polling; fails after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Reads a response whole into an Answer. */
function collectAnswer(response: IncomingMessage, resolve: (answer: Answer) => void, reject: (error: Error) => void): void {
  const chunks: Buffer[] = [];
  response.on("data", (chunk: Buffer) => chunks.push(chunk));
  response.on("end", () =>
    resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }),
  );
  response.on("error", reject);
}
