import { createHash, randomBytes } from "node:crypto";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";

/** The longest preamble line: a token is 64 hex characters. */
const MAX_PREAMBLE_BYTES = 128;
/** How long a connection may take to present its token before it is closed. */
const PREAMBLE_TIMEOUT_MS = 10_000;
/** Connections still presenting their token at once; more are closed at once. */
const MAX_UNAUTHENTICATED = 256;

/** A new attachment token: 256 random bits, hex. */
export function newToken(): string {
  return randomBytes(32).toString("hex");
}

/** Tokens are looked up by their hash, so a lookup's timing says nothing about a token. */
function tokenKey(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * The gateway's TCP listener (for sandboxes that cannot be given a socket: kubernetes pods).
 * A connection first sends its attachment's token and a newline; it is then relayed, both ways,
 * to that attachment's own Unix socket, so the proxy handles it exactly as one made there
 * (policy, attempts, bounds, secrets, update and close). A wrong or absent token closes the
 * connection (counted in `refused`), as does a preamble that does not come within 10 s.
 */
export class TokenListener {
  /** Connections closed for a wrong, absent or late token. */
  refused = 0;
  private readonly server: Server;
  private readonly sockets = new Map<string, string>();
  private readonly relayed = new Map<string, Set<Socket>>();
  private readonly unauthenticated = new Set<Socket>();

  constructor() {
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.onConnection(socket));
  }

  /** Listens on `host:port` (port 0: any); resolves to the port it got. */
  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("the egress TCP listener has no port");
    return address.port;
  }

  /** Connections presenting `token` go to the Unix socket at `socketPath` from now on. */
  register(token: string, socketPath: string): void {
    this.sockets.set(tokenKey(token), socketPath);
  }

  /** Forgets `token` and closes the connections it let in. */
  unregister(token: string): void {
    const key = tokenKey(token);
    this.sockets.delete(key);
    for (const socket of this.relayed.get(key) ?? []) socket.destroy();
    this.relayed.delete(key);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.unauthenticated) socket.destroy();
    for (const sockets of this.relayed.values()) for (const socket of sockets) socket.destroy();
    this.relayed.clear();
    this.sockets.clear();
    await closed;
  }

  private onConnection(socket: Socket): void {
    socket.on("error", () => socket.destroy());
    if (this.unauthenticated.size >= MAX_UNAUTHENTICATED) {
      this.refuse(socket);
      return;
    }
    this.unauthenticated.add(socket);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => this.refuse(socket), PREAMBLE_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      this.unauthenticated.delete(socket);
    };
    const onEnd = () => {
      done();
      this.refuse(socket);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const newline = received.indexOf(10);
      if (newline === -1) {
        if (received.length > MAX_PREAMBLE_BYTES) {
          done();
          this.refuse(socket);
        }
        return;
      }
      done();
      socket.pause();
      const token = received.subarray(0, newline).toString("latin1").replace(/\r$/, "");
      this.relay(socket, tokenKey(token), received.subarray(newline + 1));
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", () => {
      clearTimeout(timer);
      this.unauthenticated.delete(socket);
    });
  }

  private refuse(socket: Socket): void {
    if (socket.destroyed) return;
    this.refused++;
    socket.destroy();
  }

  /** Relays an authenticated connection to its attachment's socket; an unknown token closes it. */
  private relay(client: Socket, key: string, rest: Buffer): void {
    const socketPath = this.sockets.get(key);
    if (socketPath === undefined) {
      this.refuse(client);
      return;
    }
    let sockets = this.relayed.get(key);
    if (!sockets) {
      sockets = new Set();
      this.relayed.set(key, sockets);
    }
    sockets.add(client);
    const upstream = netConnect({ path: socketPath, allowHalfOpen: true });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
    };
    upstream.on("error", end);
    client.on("error", end);
    client.once("close", end);
    upstream.once("close", end);
    upstream.once("connect", () => {
      if (rest.length > 0) upstream.write(rest);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}
