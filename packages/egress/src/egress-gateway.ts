import { existsSync, readFileSync } from "node:fs";
import { chown, mkdir, mkdtemp, rm } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext, getCACertificates, rootCertificates, type SecureContext } from "node:tls";
import type { EgressAttachment, EgressGateway, EgressRequest } from "@code-interpreter/core";
import { EGRESS_CA_BUNDLE_NAME, EGRESS_MOUNT_PATH, EGRESS_SANDBOX_PORT, EGRESS_SOCKET_NAME } from "@code-interpreter/core";
import { InvalidRequestError } from "@code-interpreter/core/errors";
import { type IpAddress, parseIpAddress } from "./addresses.js";
import { CertificateAuthority } from "./certificate-authority.js";
import { type EgressOptions, EgressSettingsError, secretProblems } from "./egress-options.js";
import { systemResolve } from "./resolve.js";
import { parseRules } from "./rules.js";
import { type ProxySettings, SandboxProxy } from "./sandbox-proxy.js";
import { parseTarget } from "./targets.js";
import { newToken, TokenListener } from "./token-listener.js";

/** The egress proxy of one server: a gateway for the engine, and the CA its sandboxes trust. */
export interface EgressProxy extends EgressGateway {
  /** The per-gateway CA certificate (PEM) that signs the certificates for hosts with a secret; its key never leaves memory. Made on the first open (undefined before). */
  readonly caCertificate: string | undefined;
  /** Where sandboxes' directories are made: the operator's, else a temporary directory made on the first open (undefined before). */
  readonly stateDirectory: string | undefined;
  /** Where sandboxes reach the TCP listener (`listen`, advertised), when there is one. */
  readonly tcp: { host: string; port: number } | undefined;
  /** Connections to the TCP listener closed for a wrong, absent or late token. */
  readonly refusedConnections: number;
  open(request: EgressRequest): Promise<EgressAttachment>;
}

/** The longest state directory that leaves room for `/<sandbox name>/proxy.sock` in a Unix socket path (107 bytes). */
const MAX_STATE_DIRECTORY = 44;
const SANDBOX_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/** The environment that points a sandbox's code at its proxy and CA bundle. */
export function egressEnvironment(): Record<string, string> {
  const proxy = `http://127.0.0.1:${EGRESS_SANDBOX_PORT}`;
  const noProxy = "localhost,127.0.0.1,::1";
  const bundle = `${EGRESS_MOUNT_PATH}/${EGRESS_CA_BUNDLE_NAME}`;
  return {
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    SSL_CERT_FILE: bundle,
    REQUESTS_CA_BUNDLE: bundle,
    NODE_EXTRA_CA_CERTS: bundle,
    PIP_CERT: bundle,
    npm_config_proxy: proxy,
    npm_config_https_proxy: proxy,
    npm_config_cafile: bundle,
  };
}

/**
 * Starts the egress proxy: checks the operator's settings. The first `open`
 * makes its CA (in memory, one per gateway) and its state directory; each
 * `open` gives one sandbox a directory holding a Unix socket that only that
 * sandbox is given and the CA bundle it trusts.
 * Throws EgressSettingsError naming every bad setting.
 */
export async function createEgressGateway(options: EgressOptions = {}): Promise<EgressProxy> {
  const problems: string[] = [];
  const operatorAllow = parseRules(options.allowOut ?? ["*"], "allowOut (EGRESS_ALLOW)");
  const operatorDeny = parseRules(options.denyOut ?? [], "denyOut (EGRESS_DENY)");
  problems.push(...operatorAllow.problems, ...operatorDeny.problems);
  const hosts = new Map<string, { address: IpAddress; port?: number }>();
  for (const [name, mapping] of Object.entries(options.hosts ?? {})) {
    const address = parseIpAddress(mapping.address);
    if (address === undefined) problems.push(`hosts (EGRESS_HOSTS): ${name} maps to "${mapping.address}", not an IP address`);
    else hosts.set(name.toLowerCase().replace(/\.$/, ""), mapping.port === undefined ? { address } : { address, port: mapping.port });
  }
  const ownAddresses = Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .flatMap((entry) => parseIpAddress(entry.address) ?? []);
  const serverEndpoints: { address: IpAddress; port: number }[] = [];
  for (const text of options.serverAddresses ?? []) {
    const target = parseTarget(text, undefined);
    const address = target.kind === "ipv4" || target.kind === "ipv6" ? parseIpAddress(target.host) : undefined;
    if (target.kind === "invalid" || address === undefined) {
      problems.push(`serverAddresses: "${text}" is not address:port`);
      continue;
    }
    const unspecified = address.value === 0n;
    for (const each of unspecified ? ownAddresses : [address]) serverEndpoints.push({ address: each, port: target.port });
  }
  for (const [name, secret] of Object.entries(options.secrets ?? {}))
    problems.push(...secretProblems(name, secret).map((problem) => `secrets: ${problem}`));
  for (const [key, value, min] of [
    ["maxConnections", options.maxConnections, 1],
    ["bytesPerSecond", options.bytesPerSecond, 0],
    ["maxBytes", options.maxBytes, 0],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min))
      problems.push(`${key}: must be a whole number, at least ${min}`);
  }
  if (options.listen !== undefined) {
    const { host, port } = options.listen;
    if (parseIpAddress(host) === undefined || !Number.isInteger(port) || port < 0 || port > 65_535)
      problems.push("listen (EGRESS_LISTEN): must be an IP address and a port (0-65535)");
    const advertised = options.advertise?.host ?? host;
    if (parseIpAddress(advertised)?.value === 0n)
      problems.push(`listen (EGRESS_LISTEN) is ${host}: set advertise (EGRESS_ADVERTISE_ADDRESS), the address sandboxes reach it at`);
  } else if (options.advertise !== undefined) {
    problems.push("advertise (EGRESS_ADVERTISE_ADDRESS) needs listen (EGRESS_LISTEN)");
  }
  if (options.stateDirectory !== undefined && options.stateDirectory.length > MAX_STATE_DIRECTORY) {
    problems.push(`stateDirectory (EGRESS_STATE_DIR): at most ${MAX_STATE_DIRECTORY} characters, to fit Unix socket paths`);
  }
  if (options.upstreamCa !== undefined) {
    try {
      if (!options.upstreamCa.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate");
      // Checked now (cheap: the operator's few certificates), though the proxy's trust is built on the first open.
      createSecureContext({ ca: options.upstreamCa });
    } catch {
      problems.push("upstreamCa (EGRESS_UPSTREAM_CA): holds no PEM certificate");
    }
  }
  if (problems.length > 0) throw new EgressSettingsError(problems);

  // The TCP listener starts now: a backend asks `tcp` whether its sandboxes can be offered egress.
  let listener: TokenListener | undefined;
  let tcp: { host: string; port: number } | undefined;
  if (options.listen) {
    listener = new TokenListener();
    const port = await listener.listen(options.listen.host, options.listen.port).catch((error: Error) => {
      throw new EgressSettingsError([
        `listen (EGRESS_LISTEN): cannot listen on ${options.listen?.host}:${options.listen?.port}: ${error.message}`,
      ]);
    });
    tcp = { host: options.advertise?.host ?? options.listen.host, port: options.advertise?.port ?? port };
    // Sandboxes reach the listener only to present a token: never as a destination through the proxy.
    for (const endpoint of [tcp, { host: options.listen.host, port }]) {
      const address = parseIpAddress(endpoint.host);
      if (address === undefined) continue;
      for (const each of address.value === 0n ? ownAddresses : [address]) serverEndpoints.push({ address: each, port: endpoint.port });
    }
  }

  const ownsStateDirectory = options.stateDirectory === undefined;
  const sandboxUid = options.sandboxUid ?? 65532;
  const common = {
    operatorAllow: operatorAllow.rules,
    operatorDeny: operatorDeny.rules,
    addressContext: { allowPrivate: options.allowPrivate ?? false, ownAddresses, serverEndpoints },
    hosts,
    secrets: options.secrets ?? {},
    maxConnections: options.maxConnections ?? 64,
    bytesPerSecond: options.bytesPerSecond ?? 0,
    maxBytes: options.maxBytes ?? 1_073_741_824,
    resolve: options.resolve ?? systemResolve,
    ...(options.onAttempt ? { onAttempt: options.onAttempt } : {}),
  };
  // The CA (two RSA keys) and the state directory are made on the first open: a server that never
  // sees a request with `network` pays nothing for offering egress, and leaves no directory behind.
  let prepared: Promise<{ settings: ProxySettings; stateDirectory: string; caCertificate: string }> | undefined;
  let made: { stateDirectory: string; caCertificate: string } | undefined;
  const prepare = () => {
    prepared ??= (async () => {
      const stateDirectory = options.stateDirectory ?? (await mkdtemp(join(tmpdir(), "ci-egress-")));
      try {
        // Only the server's user reaches the sockets from the host; each sandbox is given its own directory by a bind.
        await mkdir(stateDirectory, { recursive: true, mode: 0o700 });
        // As root, the sandboxes' uid must pass it too (bubblewrap binds as that uid); still no other user.
        if (ownsStateDirectory && process.getuid?.() === 0) await chown(stateDirectory, sandboxUid, sandboxUid);
        const authority = await CertificateAuthority.create("code-interpreter egress proxy CA");
        const trust = [systemCaBundle(), ...(options.upstreamCa ? [options.upstreamCa] : [])];
        const interceptContexts = new Map<string, { certificate: string; context: SecureContext }>();
        const settings: ProxySettings = {
          ...common,
          upstreamContext: createSecureContext({ ca: trust }),
          interceptContext: (host) => {
            const leaf = authority.leafFor(host);
            let cached = interceptContexts.get(host);
            // The authority remakes a leaf after a while; its context follows.
            if (cached?.certificate !== leaf.certificate) {
              cached = { certificate: leaf.certificate, context: createSecureContext({ cert: leaf.certificate, key: leaf.key }) };
              interceptContexts.set(host, cached);
            }
            return cached.context;
          },
          sandboxBundle: `${[...trust, authority.certificatePem].map((pem) => pem.trim()).join("\n")}\n`,
          authority,
        };
        made = { stateDirectory, caCertificate: authority.certificatePem };
        return { settings, ...made };
      } catch (error) {
        if (ownsStateDirectory) await rm(stateDirectory, { recursive: true, force: true });
        throw error;
      }
    })();
    // A failure is not kept: the next open tries again.
    prepared.catch(() => {
      prepared = undefined;
    });
    return prepared;
  };
  const attachments = new Map<string, SandboxProxy>();
  let closed = false;

  return {
    get caCertificate() {
      return made?.caCertificate;
    },
    get stateDirectory() {
      return made?.stateDirectory ?? options.stateDirectory;
    },
    get tcp() {
      return tcp ? { ...tcp } : undefined;
    },
    get refusedConnections() {
      return listener?.refused ?? 0;
    },
    async open(request) {
      if (closed) throw new Error("the egress gateway is closed");
      if (!SANDBOX_NAME.test(request.sandboxName))
        throw new InvalidRequestError({ message: `"${request.sandboxName}" is not a sandbox name` });
      for (const name of request.secrets) {
        const secret = common.secrets[name];
        if (secret === undefined || (secret.tenants !== undefined && !secret.tenants.includes(request.tenant ?? ""))) {
          throw new InvalidRequestError({ message: `secrets: unknown secret "${name}"` });
        }
      }
      if (attachments.has(request.sandboxName))
        throw new InvalidRequestError({ message: `${request.sandboxName} already has an egress attachment` });
      const { settings, stateDirectory, caCertificate } = await prepare();
      if (closed) throw new Error("the egress gateway is closed");
      if (attachments.has(request.sandboxName))
        throw new InvalidRequestError({ message: `${request.sandboxName} already has an egress attachment` });
      const proxy = new SandboxProxy(request, settings, join(stateDirectory, request.sandboxName), egressEnvironment());
      attachments.set(request.sandboxName, proxy);
      const token = tcp ? newToken() : undefined;
      const close = proxy.close.bind(proxy);
      proxy.close = async () => {
        attachments.delete(request.sandboxName);
        if (token !== undefined) listener?.unregister(token);
        await close();
      };
      try {
        await proxy.listen();
      } catch (error) {
        await proxy.close();
        throw error;
      }
      if (tcp && token !== undefined) {
        listener?.register(token, join(proxy.hostDirectory, EGRESS_SOCKET_NAME));
        proxy.tcp = { ...tcp, token };
        // What the sandbox adds to its image's CAs: the operator's upstream CAs (as the socket's bundle holds them) and the proxy's.
        proxy.caCertificate = `${[...(options.upstreamCa ? [options.upstreamCa] : []), caCertificate].map((pem) => pem.trim()).join("\n")}\n`;
      }
      return proxy;
    },
    async close() {
      closed = true;
      // An open still making the CA or the directory finishes first, so what it made is removed too.
      await prepared?.catch(() => {});
      await Promise.all([...attachments.values()].map((proxy) => proxy.close()));
      await listener?.close();
      if (ownsStateDirectory && made) await rm(made.stateDirectory, { recursive: true, force: true });
    },
  };
}

/** The host's CA certificates (PEM): the system bundle where there is one, else Node's own. */
function systemCaBundle(): string {
  for (const path of ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]) {
    if (existsSync(path)) return readFileSync(path, "utf8");
  }
  try {
    const system = getCACertificates("system");
    if (system.length > 0) return system.join("\n");
  } catch {
    // Older Node: its bundled store below.
  }
  return rootCertificates.join("\n");
}
