import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { pipeline } from "node:stream";
import { type SecureContext, TLSSocket } from "node:tls";
import type { EgressAttachment, EgressRequest, EgressTcpEndpoint, NetworkAttempt, NetworkPolicy } from "@code-interpreter/core";
import { EGRESS_CA_BUNDLE_NAME, EGRESS_SOCKET_NAME } from "@code-interpreter/core";
import { InvalidRequestError } from "@code-interpreter/core/errors";
import { formatIpAddress, type IpAddress, parseIpAddress } from "./addresses.js";
import { ByteBudget } from "./byte-budget.js";
import type { CertificateAuthority } from "./certificate-authority.js";
import { MAX_RECORD, peekClientHello } from "./client-hello.js";
import type { EgressAttemptEvent, EgressSecret } from "./egress-options.js";
import { forwardHeaders, refuseResponse, refuseSocket } from "./http-relay.js";
import { resolveWithin } from "./resolve.js";
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
  /** Trusts the CA certificates for upstream TLS: the system's and the operator's (made once: the system bundle is large). */
  upstreamContext: SecureContext;
  /** A TLS context with the gateway CA's certificate for `host`, cached. */
  interceptContext(host: string): SecureContext;
  /** The bundle sandboxes trust: the system's CAs, the operator's, and the proxy's own CA. */
  sandboxBundle: string;
  authority: CertificateAuthority;
  resolve: (host: string) => Promise<string[]>;
  onAttempt?: (event: EgressAttemptEvent) => void;
}

/** The most attempts kept between two drains; older ones are dropped first. */
const MAX_ATTEMPTS = 1000;
const CONNECT_TIMEOUT_MS = 10_000;

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
  /** Set by the gateway when it listens on TCP: its address and this sandbox's token. */
  tcp?: EgressTcpEndpoint;
  /** Set with `tcp`: the proxy's CA certificate (after the operator's upstream CAs), for a sandbox that writes its own bundle. */
  caCertificate?: string;
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
    // A handler that fails unexpectedly drops its connection, never the server.
    this.server.on("request", (request: IncomingMessage, response: ServerResponse) =>
      this.onForward(request, response).catch(() => response.destroy()),
    );
    this.server.on("connect", (request: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on("error", () => socket.destroy());
      this.onConnect(request, socket, head).catch(() => socket.destroy());
    });
    this.server.on("clientError", (_error, socket: Socket) => socket.destroy());
    this.server.on("upgrade", (request: IncomingMessage, socket: Socket) => {
      socket.on("error", () => socket.destroy());
      const target = parseTarget(request.headers.host ?? "", 80);
      const reason = "the egress proxy does not forward protocol upgrades over plain HTTP; use wss:// or https:// (CONNECT)";
      if (target.kind !== "invalid") this.record(target.host, target.port, false, reason);
      refuseSocket(socket, 403, reason);
    });
    this.interceptServer = createServer();
    this.interceptServer.on("request", (request: IncomingMessage, response: ServerResponse) => {
      try {
        this.onIntercepted(request, response);
      } catch {
        response.destroy();
      }
    });
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
    const rules = this.rules;
    const literal = parseIpAddress(host);
    const name = decideName(rules, host, port, literal);
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
    // The policy may have been replaced while the name was being resolved: the current one decides.
    const current = this.rules;
    const nameNow = current === rules ? name : decideName(current, host, port, literal);
    if (!nameNow.allowed) return refuse(nameNow.reason);
    const decision = decideAddresses(current, this.settings.addressContext, host, connectPort, addresses, nameNow.addressesMustMatch);
    if (!decision.allowed) return refuse(decision.reason);
    // Connect to an address that was checked, never the name again: no DNS rebinding.
    const chosen = addresses.find((entry) => entry.address.family === 4) ?? addresses[0];
    if (chosen === undefined) return refuse(`${host}:${port} resolves to no address`);
    return { allowed: true, route: { host, port, addresses, connectAddress: formatIpAddress(chosen.address), connectPort } };
  }

  private async onForward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(request.url ?? "");
    } catch {
      refuseResponse(response, 400, "it takes absolute-form requests (http://host/path): point HTTP_PROXY at it");
      return;
    }
    if (url.protocol !== "http:") {
      refuseResponse(response, 400, `it forwards http:// URLs; ${url.protocol}// goes through CONNECT (HTTPS_PROXY)`);
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
    // Finished or failed on its own: no longer tracked, and nothing to force (a 502 may still be on its way).
    const done = () => this.connections.delete(connection);
    upstream.once("timeout", () => upstream.destroy(new Error("timed out")));
    upstream.on("error", (error: NodeJS.ErrnoException) => {
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
    response.once("close", () => {
      // The client left before the answer was through: the upstream request is of no use.
      if (!response.writableFinished) upstream.destroy();
      done();
    });
    pipeline(request, this.budget.meter(), upstream, () => {});
  }

  private async onConnect(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
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
    // Half-open like the client's side: an upstream's FIN must not cut what the meter still holds back.
    // No Nagle, as Node's HTTP client: a small write (a TLS handshake message) must not wait for a delayed ACK.
    const upstream = netConnect({ host: route.connectAddress, port: route.connectPort, allowHalfOpen: true, noDelay: true });
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
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      if (connected) {
        this.untrack(connection);
        return;
      }
      // Not forced: the client must still get the 502.
      this.connections.delete(connection);
      settle(true, `${label} could not be reached (${error.code ?? error.message})`);
      refuseSocket(socket, 502, `${label} could not be reached (${error.code ?? error.message})`);
    });
    upstream.once("close", () => {
      clearTimeout(connectTimer);
      settle(true);
    });
    socket.once("close", () => {
      settle(true);
      this.untrack(connection);
    });
    // Each direction ends on its own (half-close); when both have, or either fails, both sockets go.
    let directionsDone = 0;
    const directionDone = (error?: Error | null) => {
      if (error || ++directionsDone === 2) this.untrack(connection);
    };
    upstream.once("connect", () => {
      connected = true;
      clearTimeout(connectTimer);
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      pipeline(upstream, this.budget.meter(), socket, directionDone);
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
        pipeline(socket, up, upstream, directionDone);
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
      context = this.settings.interceptContext(route.host);
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
      // Passed through to tls.connect, which takes it; the request options' type does not list it.
      ...({ secureContext: this.settings.upstreamContext } as object),
      host: route.connectAddress,
      port: route.connectPort,
      servername: route.host,
      method: request.method,
      path,
      headers: outgoing,
      agent: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    this.relayExchange(request, response, upstream, route);
  }
}
