import { readFileSync } from "node:fs";
import type { NetworkAttempt } from "@code-interpreter/core";
import { parseIpAddress } from "./addresses.js";
import { normaliseHostName, parseRules } from "./rules.js";

/** A secret the operator configured: the proxy adds it as a header on requests to its hosts. */
export interface EgressSecret {
  /** The secret itself; it never enters a sandbox, an attempt, an error or a log line. */
  value: string;
  /** Host names that get it: exact, or `*.` wildcards. */
  hosts: string[];
  /** @default "Authorization" */
  header?: string;
  /** How the header's value is written; `{value}` stands for the secret. @default "{value}" */
  format?: string;
  /** Only these tenants may ask for it; unset: every tenant. */
  tenants?: string[];
}

/** Where a name in the operator's hosts map goes; the port, when set, replaces the requested one. */
export interface EgressHostMapping {
  address: string;
  port?: number;
}

/** Reported for every decision, for metrics. */
export interface EgressAttemptEvent {
  sandboxName: string;
  tenant: string | undefined;
  attempt: NetworkAttempt;
}

/** The operator's settings for the egress proxy. */
export interface EgressOptions {
  /** What a request may allow at most (domains, `*.` wildcards, IP/CIDR, `*`); empty: nothing (EGRESS_ALLOW=none). @default ["*"] (EGRESS_ALLOW) */
  allowOut?: string[];
  /** Always denied, added to the built-in set (domains, wildcards, IP/CIDR). @default [] (EGRESS_DENY) */
  denyOut?: string[];
  /** Lets private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) through. @default false (EGRESS_ALLOW_PRIVATE) */
  allowPrivate?: boolean;
  /** The proxy's own hosts file; a name mapped here is the operator allowing that address, even loopback. (EGRESS_HOSTS) */
  hosts?: Record<string, EgressHostMapping>;
  /** Secrets by name. (EGRESS_SECRETS) */
  secrets?: Record<string, EgressSecret>;
  /** Open connections per sandbox. @default 64 (EGRESS_MAX_CONNECTIONS) */
  maxConnections?: number;
  /** Bytes per second per sandbox, both directions together; faster traffic is slowed down. 0: no limit. @default 0 (EGRESS_BYTES_PER_SECOND) */
  bytesPerSecond?: number;
  /** Bytes per sandbox over its life, both directions; past it connections are closed. 0: no limit. @default 1073741824 (EGRESS_MAX_BYTES) */
  maxBytes?: number;
  /** Where each sandbox's directory (socket and CA bundle) is made; short, as Unix socket paths are. @default a new directory in the system's temporary directory (EGRESS_STATE_DIR) */
  stateDirectory?: string;
  /**
   * The uid sandboxes run as. A server running as root gives the state
   * directory it makes to this uid (mode 0700): a sandbox's bind (bubblewrap
   * resolves it as that uid) reaches its socket, and no other user of the host
   * does. A directory the operator names must be searchable by it. @default 65532 (the sandboxes' default)
   */
  sandboxUid?: number;
  /** Extra CA certificates (PEM) trusted for upstream TLS, and put in the sandboxes' bundle. (EGRESS_UPSTREAM_CA) */
  upstreamCa?: string;
  /**
   * A TCP listener for sandboxes that cannot be given a socket (kubernetes pods): each
   * attachment also gets a token its connections present first. Port 0: any. (EGRESS_LISTEN, `host:port`)
   */
  listen?: { host: string; port: number };
  /**
   * The address sandboxes are told to reach the listener at (on a cluster: the server pod's own IP,
   * from the downward API). The port defaults to the listener's. @default `listen`, unless that is
   * 0.0.0.0 or :: (EGRESS_ADVERTISE_ADDRESS, `host[:port]`)
   */
  advertise?: { host: string; port?: number };
  /** The server's own listening `host:port`s, always denied (0.0.0.0 or :: stand for every address of this host). */
  serverAddresses?: string[];
  /**
   * Resolves a name to its addresses; every one is checked. Tests give a
   * stand-in for DNS answers they cannot make here. @default the system's
   * resolver (getaddrinfo: /etc/hosts, then DNS)
   */
  resolve?: (host: string) => Promise<string[]>;
  /** Called for every decision (for metrics: tenant, allowed). */
  onAttempt?: (event: EgressAttemptEvent) => void;
}

/** Egress settings that cannot be used; the message names every bad variable. */
export class EgressSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid egress settings:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.name = "EgressSettingsError";
  }
}

const list = (value: string) =>
  value
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);

/**
 * Reads the operator's egress settings from environment variables (an empty
 * variable counts as unset): EGRESS_ALLOW (`none`: allowOut is empty, no
 * egress), EGRESS_DENY, EGRESS_ALLOW_PRIVATE, EGRESS_HOSTS
 * (`name=address[:port],…`), EGRESS_SECRETS (inline JSON),
 * EGRESS_UPSTREAM_CA (a PEM file, or PEM text), EGRESS_STATE_DIR,
 * EGRESS_MAX_CONNECTIONS, EGRESS_BYTES_PER_SECOND, EGRESS_MAX_BYTES,
 * EGRESS_LISTEN and EGRESS_ADVERTISE_ADDRESS (the TCP listener). Throws
 * EgressSettingsError naming every bad variable.
 */
export function egressOptionsFromEnv(env: Record<string, string | undefined> = process.env): EgressOptions {
  const problems: string[] = [];
  const read = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : env[name]);
  const options: EgressOptions = {};

  for (const [key, name] of [
    ["allowOut", "EGRESS_ALLOW"],
    ["denyOut", "EGRESS_DENY"],
  ] as const) {
    const value = read(name);
    if (value === undefined) continue;
    const entries = list(value);
    // EGRESS_ALLOW=none: requests may allow nothing, so the operator offers no egress at all.
    if (key === "allowOut" && entries.includes("none")) {
      if (entries.length > 1) problems.push(`EGRESS_ALLOW=${JSON.stringify(value)}: none stands alone (no egress at all)`);
      options.allowOut = [];
      continue;
    }
    // `*` in EGRESS_DENY would deny everything: that is EGRESS_ALLOW=none, said once and plainly.
    if (key === "denyOut" && entries.includes("*"))
      problems.push(`EGRESS_DENY=${JSON.stringify(value)}: * is not a rule here; for no egress at all set EGRESS_ALLOW=none`);
    problems.push(...parseRules(entries, name).problems);
    options[key] = entries;
  }

  const allowPrivate = read("EGRESS_ALLOW_PRIVATE");
  if (allowPrivate !== undefined) {
    if (!["true", "false", "1", "0"].includes(allowPrivate))
      problems.push(`EGRESS_ALLOW_PRIVATE=${JSON.stringify(allowPrivate)}: write true or false`);
    options.allowPrivate = allowPrivate === "true" || allowPrivate === "1";
  }

  const hosts = read("EGRESS_HOSTS");
  if (hosts !== undefined) {
    const parsed = parseHosts(hosts);
    problems.push(...parsed.problems.map((problem) => `EGRESS_HOSTS: ${problem}`));
    options.hosts = parsed.hosts;
  }

  const secrets = read("EGRESS_SECRETS");
  if (secrets !== undefined) {
    const parsed = parseSecrets(secrets, env);
    problems.push(...parsed.problems.map((problem) => `EGRESS_SECRETS: ${problem}`));
    options.secrets = parsed.secrets;
  }

  const upstreamCa = read("EGRESS_UPSTREAM_CA");
  if (upstreamCa !== undefined) {
    if (upstreamCa.includes("-----BEGIN CERTIFICATE-----")) options.upstreamCa = upstreamCa;
    else {
      try {
        options.upstreamCa = readFileSync(upstreamCa, "utf8");
        if (!options.upstreamCa.includes("-----BEGIN CERTIFICATE-----"))
          problems.push(`EGRESS_UPSTREAM_CA=${JSON.stringify(upstreamCa)}: holds no PEM certificate`);
      } catch (error) {
        problems.push(
          `EGRESS_UPSTREAM_CA=${JSON.stringify(upstreamCa)}: cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
        );
      }
    }
  }

  for (const [key, name] of [
    ["listen", "EGRESS_LISTEN"],
    ["advertise", "EGRESS_ADVERTISE_ADDRESS"],
  ] as const) {
    const value = read(name);
    if (value === undefined) continue;
    const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(value);
    const host = match?.[1] ?? match?.[2];
    const port = match?.[3] === undefined ? undefined : Number(match[3]);
    if (!match || host === undefined || parseIpAddress(host) === undefined || (port !== undefined && port > 65_535)) {
      problems.push(
        `${name}=${JSON.stringify(value)}: write address:port (an IP address${key === "advertise" ? "; the port may be left out" : ""})`,
      );
    } else if (key === "listen") {
      if (port === undefined) problems.push(`${name}=${JSON.stringify(value)}: write address:port`);
      else options.listen = { host, port };
    } else options.advertise = port === undefined ? { host } : { host, port };
  }

  const stateDirectory = read("EGRESS_STATE_DIR");
  if (stateDirectory !== undefined) options.stateDirectory = stateDirectory;

  for (const [key, name, min] of [
    ["maxConnections", "EGRESS_MAX_CONNECTIONS", 1],
    ["bytesPerSecond", "EGRESS_BYTES_PER_SECOND", 0],
    ["maxBytes", "EGRESS_MAX_BYTES", 0],
  ] as const) {
    const value = read(name);
    if (value === undefined) continue;
    if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
      problems.push(`${name}=${JSON.stringify(value)}: write a whole number, at least ${min}`);
    } else options[key] = Number(value);
  }

  if (problems.length > 0) throw new EgressSettingsError(problems);
  return options;
}

/** Parses `name=address[:port],…` (IPv6 addresses in brackets: `name=[::1]:8443`). */
export function parseHosts(text: string): { hosts: Record<string, EgressHostMapping>; problems: string[] } {
  const hosts: Record<string, EgressHostMapping> = {};
  const problems: string[] = [];
  for (const entry of list(text)) {
    const match = /^([^=]+)=(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(entry);
    const name = match?.[1] ? normaliseHostName(match[1].trim()) : undefined;
    const address = match?.[2] ?? match?.[3];
    const port = match?.[4] === undefined ? undefined : Number(match[4]);
    if (!match || name === undefined || address === undefined || parseIpAddress(address) === undefined) {
      problems.push(`"${entry}" is not name=address[:port] (an IP address, not a name)`);
    } else if (port !== undefined && (port < 1 || port > 65_535)) {
      problems.push(`"${entry}": the port must be 1-65535`);
    } else hosts[name] = port === undefined ? { address } : { address, port };
  }
  return { hosts, problems };
}

/**
 * Parses the secrets' JSON: `{name: {value | value_env, hosts, header?, format?, tenants?}}`.
 * Problems name the secret and the field, never the value.
 */
export function parseSecrets(
  text: string,
  env: Record<string, string | undefined>,
): { secrets: Record<string, EgressSecret>; problems: string[] } {
  const secrets: Record<string, EgressSecret> = {};
  const problems: string[] = [];
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { secrets, problems: ["is not valid JSON"] };
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    return { secrets, problems: ['must be a JSON object: {"name": {"value": …, "hosts": […], "header": …}}'] };
  }
  for (const [name, raw] of Object.entries(document)) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      problems.push(`secret "${name}": must be an object`);
      continue;
    }
    const { value_env: valueEnv, value, hosts, header = "Authorization", format = "{value}", tenants } = raw as Record<string, unknown>;
    const secret = { value: typeof valueEnv === "string" ? env[valueEnv] : value, hosts, header, format, tenants } as EgressSecret;
    if (tenants === undefined) delete secret.tenants;
    if (typeof valueEnv === "string" && !secret.value) {
      problems.push(`secret "${name}": value_env names ${valueEnv}, which is not set`);
      // The rest of the entry is still checked, with the missing value taken as given.
      problems.push(...secretProblems(name, { ...secret, value: "unset" }));
    } else problems.push(...secretProblems(name, secret));
    if (Array.isArray(hosts)) secret.hosts = hosts.map((host) => String(host).toLowerCase());
    secrets[name] = secret;
  }
  return { secrets, problems };
}

/** What is wrong with one secret (its name and fields, never its value). */
export function secretProblems(name: string, secret: EgressSecret): string[] {
  const problems: string[] = [];
  const problem = (message: string) => problems.push(`secret "${name}": ${message}`);
  const {
    value,
    hosts,
    header = "Authorization",
    format = "{value}",
    tenants,
  } = secret as Partial<Record<keyof EgressSecret, unknown>> & EgressSecret;
  if (typeof value !== "string" || value === "") problem("needs a value (a string) or value_env (the variable holding it)");
  // What a header value may hold (RFC 9110 field-value): no control characters, so no line breaks.
  else if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(value))
    problem("the value holds a control character (a line break?), which no header can carry");
  if (!Array.isArray(hosts) || hosts.length === 0 || !hosts.every((host) => typeof host === "string")) {
    problem("needs hosts: a list of host names (exact or *.)");
  } else {
    for (const host of hosts) {
      const hostName = host.startsWith("*.") ? normaliseHostName(host.slice(2)) : normaliseHostName(host);
      if (hostName === undefined || parseIpAddress(host) !== undefined) problem(`hosts: "${host}" is not a host name (exact or *.)`);
    }
  }
  if (typeof header !== "string" || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) problem("header must be a header name");
  if (typeof format !== "string" || !format.includes("{value}") || !/^[\t\x20-\x7e]*$/.test(format)) {
    problem('format must be a string holding {value}, e.g. "Bearer {value}"');
  }
  if (tenants !== undefined && (!Array.isArray(tenants) || !tenants.every((tenant) => typeof tenant === "string"))) {
    problem("tenants must be a list of tenant names");
  }
  return problems;
}
