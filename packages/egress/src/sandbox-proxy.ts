import { lookup } from "node:dns/promises";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { pipeline } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import type { EgressAttachment, EgressRequest, NetworkAttempt, NetworkPolicy } from "@code-interpreter/core";
import { EGRESS_CA_BUNDLE_NAME, EGRESS_SOCKET_NAME } from "@code-interpreter/core";
import { InvalidRequestError } from "@code-interpreter/core/errors";
import { formatIpAddress, type IpAddress, parseIpAddress } from "./addresses.js";
import { ByteBudget } from "./byte-budget.js";
import type { CertificateAuthority } from "./certificate-authority.js";
import { MAX_RECORD, peekClientHello } from "./client-hello.js";
import type { EgressAttemptEvent, EgressSecret } from "./egress-options.js";
import {
  type AddressContext,
  decideAddresses,
  decideName,
  parseRules,
  type ResolvedAddress,
  type Rule,
  type Rules,
  ruleCoveredBy,
} from "./rules.js";
import { hostMatches, parseTarget, type Target } from "./targets.js";

/** What every sandbox's proxy shares: the operator's settings, parsed, and the gateway's CA. */
export interface ProxySettings {
  operatorAllow: Rule[];
  operatorDeny: Rule[];
  addressContext: AddressContext;
  hosts: Map<string, { address: IpAddress; port?: number }>;
  secrets: Record<string, EgressSecret>;
  maxConnections: number;
  bytesPerSecond: number;
  maxBytes: number;
  /** CA certificates (PEM) trusted for upstream TLS: the system's and the operator's. */
  upstreamTrust: string[];
  /** The bundle sandboxes trust: the system's CAs, the operator's, and the proxy's own CA. */
  sandboxBundle: string;
  authority: CertificateAuthority;
  resolve: (host: string) => Promise<string[]>;
  onAttempt?: (event: EgressAttemptEvent) => void;
}

/** The most attempts kept between two drains; older ones are dropped first. */
const MAX_ATTEMPTS = 1000;
const RESOLVE_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 10_000;
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

/** Where an allowed destination is reached. */
interface Route {
  host: string;
  port: number;
  addresses: ResolvedAddress[];
  connectAddress: string;
  connectPort: number;
}

/** An open connection through the proxy, closed when the policy stops allowing it. */
interface OpenConnection {
  route: Route;
  close(): void;
}

type Authorisation = { allowed: true; route: Route } | { allowed: false; reason: string; host: string; port: number };

/** Validates `policy` against the operator's bounds; throws InvalidRequestError naming the entry. */
export function parsePolicy(policy: NetworkPolicy, settings: ProxySettings): Rules {
  const allow = parseRules(policy.allow_out, "network.allow_out");
  const deny = parseRules(policy.deny_out, "network.deny_out");
  const problems = [...allow.problems, ...deny.problems];
  for (const rule of allow.rules) {
    if (!ruleCoveredBy(rule, settings.operatorAllow))
      problems.push(`network.allow_out: "${rule.text}" is outside what the operator allows`);
  }
  if (problems.length > 0) throw new InvalidRequestError({ message: problems.join("; ") });
  return { allowOut: allow.rules, denyOut: deny.rules, operatorAllow: settings.operatorAllow, operatorDeny: settings.operatorDeny };
}

/** One sandbox's way out: a Unix socket of its own, an HTTP forward proxy and CONNECT on it. */
export class SandboxProxy implements EgressAttachment {
  readonly hostDirectory: string;
  readonly env: Record<string, string>;
  private rules: Rules;
  private readonly attempts: NetworkAttempt[] = [];
  private readonly clientSockets = new Set<Socket>();
  /** Client connections within the connection bound; the others are answered with a refusal. */
  private readonly admitted = new Set<Socket>();
  private readonly connections = new Set<OpenConnection>();
  private readonly budget: ByteBudget;
  private readonly server: Server;
  /** Parses the requests inside TLS the proxy opened (hosts with a secret); never listens. */
  private readonly interceptServer: Server;
  private readonly intercepted = new WeakMap<Socket, { route: Route; headers: [string, string][] }>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly request: EgressRequest,
    private readonly settings: ProxySettings,
    directory: string,
    env: Record<string, string>,
  ) {
    this.hostDirectory = directory;
    this.env = env;
    this.rules = parsePolicy(request.policy, settings);
    this.budget = new ByteBudget(settings.maxBytes, settings.bytesPerSecond, () =>
      this.closeAll(`closed: the sandbox went over its egress byte bound (${settings.maxBytes} bytes)`),
    );
    this.server = createServer();
    this.server.on("connection", (socket: Socket) => this.onClient(socket));
    this.server.on("request", (request: IncomingMessage, response: ServerResponse) => void this.onForward(request, response));
    this.server.on("connect", (request: IncomingMessage, socket: Socket, head: Buffer) => void this.onConnect(request, socket, head));
    this.server.on("clientError", (_error, socket: Socket) => socket.destroy());
    this.server.on("upgrade", (request: IncomingMessage, socket: Socket) => {
      const target = parseTarget(request.headers.host ?? "", 80);
      const reason = "the egress proxy does not forward protocol upgrades over plain HTTP; use wss:// or https:// (CONNECT)";
      if (target.kind !== "invalid") this.record(target.host, target.port, false, reason);
      refuseSocket(socket, 403, reason);
    });
    this.interceptServer = createServer();
    this.interceptServer.on("request", (request: IncomingMessage, response: ServerResponse) => void this.onIntercepted(request, response));
    this.interceptServer.on("clientError", (_error, socket: Socket) => socket.destroy());
  }

  /** Makes the directory, the CA bundle and the socket. */
  async listen(): Promise<void> {
    await rm(this.hostDirectory, { recursive: true, force: true });
    await mkdir(this.hostDirectory, { recursive: true, mode: 0o755 });
    await chmod(this.hostDirectory, 0o755);
    await writeFile(join(this.hostDirectory, EGRESS_CA_BUNDLE_NAME), this.settings.sandboxBundle, { mode: 0o644 });
    const socketPath = join(this.hostDirectory, EGRESS_SOCKET_NAME);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(socketPath, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    // The sandbox's user is not the server's: anyone who can reach the socket may connect, and only this sandbox is given it.
    await chmod(socketPath, 0o666);
  }

  drainAttempts(): NetworkAttempt[] {
    return this.attempts.splice(0, this.attempts.length);
  }

  async update(policy: NetworkPolicy): Promise<void> {
    this.rules = parsePolicy(policy, this.settings);
    for (const connection of [...this.connections]) {
      const refusal = this.refusalFor(connection.route);
      if (refusal === undefined) continue;
      this.record(connection.route.host, connection.route.port, false, `closed after the policy changed: ${refusal}`);
      this.untrack(connection);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const connection of [...this.connections]) this.untrack(connection);
      for (const socket of this.clientSockets) socket.destroy();
      await closed;
      await rm(this.hostDirectory, { recursive: true, force: true });
    })();
    return this.closing;
  }

  private record(host: string, port: number, allowed: boolean, reason?: string): void {
    const attempt: NetworkAttempt = reason === undefined ? { host, port, allowed } : { host, port, allowed, reason };
    this.attempts.push(attempt);
    if (this.attempts.length > MAX_ATTEMPTS) this.attempts.shift();
    try {
      this.settings.onAttempt?.({ sandboxName: this.request.sandboxName, tenant: this.request.tenant, attempt });
    } catch {
      // Metrics must not break the proxy.
    }
  }

  private onClient(socket: Socket): void {
    this.clientSockets.add(socket);
    this.admit(socket);
    socket.once("close", () => {
      this.clientSockets.delete(socket);
      this.admitted.delete(socket);
    });
  }

  /** True when `socket` counts within the connection bound (it is admitted once there is room). */
  private admit(socket: Socket): boolean {
    if (!this.admitted.has(socket) && this.admitted.size < this.settings.maxConnections && !socket.destroyed) this.admitted.add(socket);
    return this.admitted.has(socket);
  }

  private track(route: Route, close: () => void): OpenConnection {
    const connection = { route, close };
    this.connections.add(connection);
    return connection;
  }

  private untrack(connection: OpenConnection): void {
    if (this.connections.delete(connection)) connection.close();
  }

  private closeAll(reason: string): void {
    for (const connection of [...this.connections]) {
      this.record(connection.route.host, connection.route.port, false, reason);
      this.untrack(connection);
    }
  }

  /** Why the current policy refuses a route already resolved, or undefined when it still allows it. */
  private refusalFor(route: Route): string | undefined {
    const literal = parseIpAddress(route.host);
    const name = decideName(this.rules, route.host, route.port, literal);
    if (!name.allowed) return name.reason;
    const addresses = decideAddresses(
      this.rules,
      this.settings.addressContext,
      route.host,
      route.connectPort,
      route.addresses,
      name.addressesMustMatch,
    );
    return addresses.allowed ? undefined : addresses.reason;
  }

  /** Decides on a destination: the name, then every address it resolves to. */
  private async authorise(target: Target, socket: Socket): Promise<Authorisation> {
    if (target.kind === "invalid")
      return { allowed: false, reason: `"${target.text}" is not a valid host and port`, host: target.text, port: 0 };
    const { host, port } = target;
    const refuse = (reason: string): Authorisation => ({ allowed: false, reason, host, port });
    if (target.kind === "ipv6") return refuse(`${host}:${port}: IPv6 literal destinations are not supported; ask for the host by name`);
    if (!this.admit(socket)) {
      return refuse(`${host}:${port} refused: the sandbox has more than ${this.settings.maxConnections} egress connections open`);
    }
    if (this.budget.exhausted)
      return refuse(`${host}:${port} refused: the sandbox used up its egress byte bound (${this.settings.maxBytes} bytes)`);
    const literal = parseIpAddress(host);
    const name = decideName(this.rules, host, port, literal);
    if (!name.allowed) return refuse(name.reason);
    let addresses: ResolvedAddress[];
    let connectPort = port;
    const mapped = literal === undefined ? this.settings.hosts.get(host) : undefined;
    if (mapped) {
      addresses = [{ address: mapped.address, fromHosts: true }];
      connectPort = mapped.port ?? port;
    } else if (literal) {
      addresses = [{ address: literal, fromHosts: false }];
    } else {
      try {
        addresses = await resolveWithin(this.settings.resolve, host);
      } catch (error) {
        return refuse(`${host}:${port} could not be resolved (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
    }
    const decision = decideAddresses(this.rules, this.settings.addressContext, host, connectPort, addresses, name.addressesMustMatch);
    if (!decision.allowed) return refuse(decision.reason);
    // Connect to an address that was checked, never the name again: no DNS rebinding.
    const chosen = addresses.find((entry) => entry.address.family === 4) ?? addresses[0];
    if (chosen === undefined) return refuse(`${host}:${port} resolves to no address`);
    return { allowed: true, route: { host, port, addresses, connectAddress: textOf(chosen.address), connectPort } };
  }

  private async onForward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(request.url ?? "");
    } catch {
      refuseResponse(response, 400, "the egress proxy takes absolute-form requests (http://host/path); point HTTP_PROXY at it");
      return;
    }
    if (url.protocol !== "http:") {
      refuseResponse(response, 400, `the egress proxy forwards http:// URLs; ${url.protocol}// goes through CONNECT (HTTPS_PROXY)`);
      return;
    }
    const target = parseTarget(url.host, 80);
    const hostHeader = parseTarget(request.headers.host ?? "", 80);
    if (
      target.kind !== "invalid" &&
      (hostHeader.kind === "invalid" || hostHeader.host !== target.host || hostHeader.port !== target.port)
    ) {
      const reason = `the Host header ${JSON.stringify(request.headers.host ?? "")} does not match the requested URL's host ${url.host}`;
      this.record(target.host, target.port, false, reason);
      refuseResponse(response, 403, reason);
      return;
    }
    const decision = await this.authorise(target, request.socket);
    if (!decision.allowed) {
      this.record(decision.host, decision.port, false, decision.reason);
      refuseResponse(response, 403, decision.reason);
      return;
    }
    const { route } = decision;
    this.record(route.host, route.port, true);
    const upstream = httpRequest({
      host: route.connectAddress,
      port: route.connectPort,
      method: request.method,
      path: `${url.pathname}${url.search}`,
      headers: forwardHeaders(request.headers),
      agent: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    this.relayExchange(request, response, upstream, route);
  }

  /** Sends a parsed request upstream and its answer back, metered, closed when the policy stops allowing it. */
  private relayExchange(request: IncomingMessage, response: ServerResponse, upstream: ReturnType<typeof httpRequest>, route: Route): void {
    const connection = this.track(route, () => {
      upstream.destroy();
      response.destroy();
    });
    const done = () => this.untrack(connection);
    upstream.once("timeout", () => upstream.destroy(new Error("timed out")));
    upstream.once("error", (error: NodeJS.ErrnoException) => {
      if (!response.headersSent) {
        refuseResponse(response, 502, `${route.host}:${route.port} could not be reached (${error.code ?? error.message})`);
      } else response.destroy();
      done();
    });
    upstream.once("response", (answer) => {
      upstream.setTimeout(0);
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardHeaders(answer.headers));
      pipeline(answer, this.budget.meter(), response, done);
    });
    response.once("close", done);
    pipeline(request, this.budget.meter(), upstream, () => {});
  }

  private async onConnect(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on("error", () => socket.destroy());
    const target = parseTarget(request.url ?? "", undefined);
    if (target.kind !== "invalid" && request.headers.host !== undefined) {
      const hostHeader = parseTarget(request.headers.host, target.port);
      if (hostHeader.kind === "invalid" || hostHeader.host !== target.host || hostHeader.port !== target.port) {
        const reason = `the Host header ${JSON.stringify(request.headers.host)} does not match CONNECT ${request.url}`;
        this.record(target.host, target.port, false, reason);
        refuseSocket(socket, 403, reason);
        return;
      }
    }
    const decision = await this.authorise(target, socket);
    if (!decision.allowed) {
      this.record(decision.host, decision.port, false, decision.reason);
      refuseSocket(socket, 403, decision.reason);
      return;
    }
    const { route } = decision;
    const secrets = Object.entries(this.settings.secrets).filter(
      ([name, secret]) => this.request.secrets.includes(name) && hostMatches(secret.hosts, route.host),
    );
    if (secrets.length > 0 && target.kind === "name") this.intercept(route, socket, head, secrets);
    else this.tunnel(route, socket, head);
  }

  /** Pipes a CONNECT tunnel untouched, once its TLS ClientHello (if it is TLS) names the CONNECT host. */
  private tunnel(route: Route, socket: Socket, head: Buffer): void {
    const label = `${route.host}:${route.port}`;
    const upstream = netConnect({ host: route.connectAddress, port: route.connectPort });
    const connection = this.track(route, () => {
      upstream.destroy();
      socket.destroy();
    });
    let settled = false;
    let connected = false;
    const settle = (allowed: boolean, reason?: string) => {
      if (settled) return;
      settled = true;
      this.record(route.host, route.port, allowed, reason);
    };
    const connectTimer = setTimeout(() => upstream.destroy(new Error("timed out")), CONNECT_TIMEOUT_MS);
    upstream.once("error", (error: NodeJS.ErrnoException) => {
      if (!connected && !settled) {
        settle(true, `${label} could not be reached (${error.code ?? error.message})`);
        refuseSocket(socket, 502, `${label} could not be reached (${error.code ?? error.message})`);
      }
      this.untrack(connection);
    });
    upstream.once("close", () => {
      clearTimeout(connectTimer);
      settle(true);
      this.untrack(connection);
    });
    socket.once("close", () => {
      settle(true);
      this.untrack(connection);
    });
    upstream.once("connect", () => {
      connected = true;
      clearTimeout(connectTimer);
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      pipeline(upstream, this.budget.meter(), socket, () => this.untrack(connection));
      let seen = head;
      const onData = (chunk: Buffer) => {
        seen = Buffer.concat([seen, chunk]);
        inspect();
      };
      const inspect = () => {
        const peek =
          seen.length > 5 + MAX_RECORD ? { kind: "malformed" as const, reason: "the ClientHello is too long" } : peekClientHello(seen);
        if (peek.kind === "incomplete") return;
        socket.pause();
        socket.off("data", onData);
        socket.off("end", onEnd);
        if (peek.kind === "malformed") {
          settle(false, `${label}: the tunnel's TLS ClientHello is malformed (${peek.reason})`);
          this.untrack(connection);
          return;
        }
        if (peek.kind === "client-hello" && peek.serverName !== undefined && peek.serverName.replace(/\.$/, "") !== route.host) {
          settle(false, `SNI ${peek.serverName} does not match CONNECT host ${route.host}`);
          this.untrack(connection);
          return;
        }
        settle(true);
        const up = this.budget.meter();
        up.write(seen);
        pipeline(socket, up, upstream, () => this.untrack(connection));
      };
      // A client that leaves before its first byte: nothing to relay (the socket is half-open otherwise).
      const onEnd = () => this.untrack(connection);
      socket.on("data", onData);
      socket.once("end", onEnd);
      if (seen.length > 0) inspect();
    });
  }

  /** Opens TLS for a host with a secret, with a certificate from the gateway's CA, and relays its requests with the secret added. */
  private intercept(route: Route, socket: Socket, head: Buffer, secrets: [string, EgressSecret][]): void {
    let context: SecureContext;
    try {
      const leaf = this.settings.authority.leafFor(route.host);
      context = createSecureContext({ cert: leaf.certificate, key: leaf.key });
    } catch {
      this.record(route.host, route.port, false, `${route.host}:${route.port}: the proxy could not make a certificate for it`);
      refuseSocket(socket, 502, `${route.host}:${route.port}: the proxy could not make a certificate for it`);
      return;
    }
    const headers = secrets.map(([, secret]): [string, string] => [
      (secret.header ?? "Authorization").toLowerCase(),
      (secret.format ?? "{value}").replaceAll("{value}", secret.value),
    ]);
    if (head.length > 0) {
      // TLS would be read from the socket's handle, past these bytes; a client waits for the answer first anyway.
      const reason = `${route.host}:${route.port}: the client sent data before the proxy answered CONNECT`;
      this.record(route.host, route.port, false, reason);
      refuseSocket(socket, 403, reason);
      return;
    }
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    const names = secrets.map(([name]) => name).join(", ");
    let outcome: "pending" | "secure" | "refused" = "pending";
    const tlsSocket = new TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ["http/1.1"],
      SNICallback: (serverName, callback) => {
        if (serverName.toLowerCase().replace(/\.$/, "") === route.host) callback(null, context);
        else {
          outcome = "refused";
          this.record(route.host, route.port, false, `SNI ${serverName} does not match CONNECT host ${route.host}`);
          callback(new Error("SNI does not match the CONNECT host"));
        }
      },
    });
    const connection = this.track(route, () => {
      tlsSocket.destroy();
      socket.destroy();
    });
    tlsSocket.once("secure", () => {
      outcome = "secure";
      this.record(route.host, route.port, true, `TLS opened by the proxy to add the secret ${names}`);
    });
    tlsSocket.on("error", () => this.untrack(connection));
    tlsSocket.once("close", () => {
      if (outcome === "pending") {
        this.record(
          route.host,
          route.port,
          false,
          `${route.host}:${route.port}: TLS with the proxy failed (the client must trust ${EGRESS_CA_BUNDLE_NAME})`,
        );
      }
      this.untrack(connection);
    });
    this.intercepted.set(tlsSocket, { route, headers });
    this.interceptServer.emit("connection", tlsSocket);
  }

  private onIntercepted(request: IncomingMessage, response: ServerResponse): void {
    const context = this.intercepted.get(request.socket);
    if (context === undefined) {
      response.destroy();
      return;
    }
    const { route, headers } = context;
    const hostHeader = parseTarget(request.headers.host ?? "", 443);
    const path = request.url ?? "";
    if (hostHeader.kind === "invalid" || hostHeader.host !== route.host || hostHeader.port !== route.port || !path.startsWith("/")) {
      const reason = `the Host header ${JSON.stringify(request.headers.host ?? "")} does not match CONNECT host ${route.host}:${route.port}`;
      this.record(route.host, route.port, false, reason);
      refuseResponse(response, 403, reason);
      return;
    }
    const outgoing = forwardHeaders(request.headers);
    for (const [name, value] of headers) outgoing[name] = value;
    const upstream = httpsRequest({
      host: route.connectAddress,
      port: route.connectPort,
      servername: route.host,
      ca: this.settings.upstreamTrust,
      method: request.method,
      path,
      headers: outgoing,
      agent: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    this.relayExchange(request, response, upstream, route);
  }
}

function textOf(address: IpAddress): string {
  return formatIpAddress(address);
}

/** The system's resolver: every address getaddrinfo gives (/etc/hosts, then DNS). */
export async function systemResolve(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, order: "verbatim" })).map((entry) => entry.address);
}

async function resolveWithin(resolve: (host: string) => Promise<string[]>, host: string): Promise<ResolvedAddress[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { code: "ETIMEOUT" })), RESOLVE_TIMEOUT_MS);
  });
  try {
    const found = await Promise.race([resolve(host), timeout]);
    return found.flatMap((text) => {
      const address = parseIpAddress(text);
      return address === undefined ? [] : [{ address, fromHosts: false }];
    });
  } finally {
    clearTimeout(timer);
  }
}

function forwardHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = String(headers.connection ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase());
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.includes(name) && !named.includes(name)));
}

function refuseResponse(response: ServerResponse, status: number, reason: string): void {
  const body = `egress denied: ${reason}\n`;
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

function refuseSocket(socket: Socket, status: 403 | 502, reason: string): void {
  const body = `egress denied: ${reason}\n`;
  const statusText = status === 403 ? "Forbidden" : "Bad Gateway";
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1_000).unref();
}
