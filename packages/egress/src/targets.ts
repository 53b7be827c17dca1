import { isIPv4, isIPv6 } from "node:net";
import { normaliseHostName } from "./rules.js";

/** A destination as a client named it. */
export type Target =
  | { kind: "name"; host: string; port: number }
  | { kind: "ipv4"; host: string; port: number }
  | { kind: "ipv6"; host: string; port: number }
  | { kind: "invalid"; text: string };

/** Parses `host[:port]` or `[ipv6]:port` (a CONNECT target or a Host header); `defaultPort` when none is given. */
export function parseTarget(text: string, defaultPort: number | undefined): Target {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text.trim());
  const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
  if (!match || port === undefined || port < 1 || port > 65_535) return { kind: "invalid", text };
  if (match[1] !== undefined) return isIPv6(match[1]) ? { kind: "ipv6", host: match[1].toLowerCase(), port } : { kind: "invalid", text };
  const host = match[2] ?? "";
  if (isIPv4(host)) return { kind: "ipv4", host, port };
  const name = normaliseHostName(host);
  return name === undefined ? { kind: "invalid", text } : { kind: "name", host: name, port };
}

/** True when `name` is one of `hosts` (exact, or under a `*.` wildcard). */
export function hostMatches(hosts: readonly string[], name: string): boolean {
  return hosts.some((host) => (host.startsWith("*.") ? name.endsWith(host.slice(1)) : host === name));
}
