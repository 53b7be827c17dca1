// Policies as data, decisions as pure functions: the proxy only calls these
// and records what they answer, so the reason a user sees is the one given here.
import {
  formatIpAddress,
  type IpAddress,
  type IpNetwork,
  networkContains,
  networkCovers,
  parseIpNetwork,
  specialRangeOf,
} from "./addresses.js";

/** One entry of an allow or deny list, parsed. */
export type Rule =
  | { kind: "any"; text: string }
  | { kind: "domain"; name: string; text: string }
  /** `*.example.com`: any name under example.com, not example.com itself. */
  | { kind: "wildcard"; suffix: string; text: string }
  | { kind: "network"; network: IpNetwork; text: string };

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** The canonical form of a host name (lower case, no trailing dot), or undefined when it is not one. */
export function normaliseHostName(text: string): string | undefined {
  const name = text.toLowerCase().replace(/\.$/, "");
  if (name.length === 0 || name.length > 253) return undefined;
  return name.split(".").every((label) => LABEL.test(label)) ? name : undefined;
}

/** Parses one list entry: a domain, a `*.` wildcard, an IP address or a CIDR network, or `*` (anything). */
export function parseRule(text: string): Rule | string {
  const entry = text.trim().toLowerCase();
  if (entry === "*") return { kind: "any", text: entry };
  if (entry.startsWith("*.")) {
    const name = normaliseHostName(entry.slice(2));
    return name === undefined
      ? `"${text}" is not a valid wildcard domain (write *.example.com)`
      : { kind: "wildcard", suffix: `.${name}`, text: entry };
  }
  if (/^[0-9a-f:.]+(\/\d+)?$/.test(entry) && (entry.includes(":") || /^[\d./]+$/.test(entry))) {
    const network = parseIpNetwork(entry);
    return network === undefined ? `"${text}" is not a valid IP address or CIDR network` : { kind: "network", network, text: entry };
  }
  if (/[^\x20-\x7e]/.test(entry)) return `"${text}" is not ASCII: write the domain in its punycode (xn--) form`;
  const name = normaliseHostName(entry);
  return name === undefined
    ? `"${text}" is not a valid domain, *. wildcard, IP address or CIDR network`
    : { kind: "domain", name, text: entry };
}

/** Parses a list, collecting every problem with the list's name (`allow_out`, EGRESS_ALLOW…). */
export function parseRules(entries: readonly string[], listName: string): { rules: Rule[]; problems: string[] } {
  const rules: Rule[] = [];
  const problems: string[] = [];
  for (const entry of entries) {
    const rule = parseRule(entry);
    if (typeof rule === "string") problems.push(`${listName}: ${rule}`);
    else rules.push(rule);
  }
  return { rules, problems };
}

/** True when every destination `inner` allows is one that some rule of `outer` allows. */
export function ruleCoveredBy(inner: Rule, outer: readonly Rule[]): boolean {
  return outer.some((bound) => {
    if (bound.kind === "any") return true;
    switch (inner.kind) {
      case "any":
        return false;
      case "domain":
        return (bound.kind === "domain" && bound.name === inner.name) || (bound.kind === "wildcard" && inner.name.endsWith(bound.suffix));
      case "wildcard":
        return bound.kind === "wildcard" && inner.suffix.endsWith(bound.suffix);
      case "network":
        return bound.kind === "network" && networkCovers(bound.network, inner.network);
    }
    return false;
  });
}

/** True when a rule of `rules` names `name` (a host name, not an address). */
export function matchesName(rules: readonly Rule[], name: string): Rule | undefined {
  return rules.find(
    (rule) =>
      rule.kind === "any" || (rule.kind === "domain" && rule.name === name) || (rule.kind === "wildcard" && name.endsWith(rule.suffix)),
  );
}

/** The rule of `rules` that holds `address`, if any. */
export function matchesAddress(rules: readonly Rule[], address: IpAddress): Rule | undefined {
  return rules.find((rule) => rule.kind === "any" || (rule.kind === "network" && networkContains(rule.network, address)));
}

/** A sandbox's policy and the operator's bounds, parsed. */
export interface Rules {
  allowOut: readonly Rule[];
  denyOut: readonly Rule[];
  operatorAllow: readonly Rule[];
  operatorDeny: readonly Rule[];
}

/** What the name alone says: refused (with why), allowed, or allowed if every resolved address lies in an allowed network. */
export type NameDecision = { allowed: false; reason: string } | { allowed: true; addressesMustMatch: boolean };

/** Decides on the requested host (a name or an IPv4 address) before anything is resolved. */
export function decideName(rules: Rules, host: string, port: number, address: IpAddress | undefined): NameDecision {
  const target = `${host}:${port}`;
  const deny = (reason: string): NameDecision => ({ allowed: false, reason: `${target} ${reason}` });
  if (address !== undefined) {
    const denied = matchesAddress(rules.denyOut.filter(isNetwork), address);
    if (denied) return deny(`is in deny_out (${denied.text})`);
    const operatorDenied = matchesAddress(rules.operatorDeny.filter(isNetwork), address);
    if (operatorDenied) return deny(`is denied by the operator (${operatorDenied.text})`);
    if (!matchesAddress(rules.allowOut, address)) return deny("is not in allow_out");
    if (!matchesAddress(rules.operatorAllow, address)) return deny("is outside what the operator allows");
    return { allowed: true, addressesMustMatch: false };
  }
  const denied = matchesName(rules.denyOut.filter(isName), host);
  if (denied) return deny(`is in deny_out (${denied.text})`);
  const operatorDenied = matchesName(rules.operatorDeny.filter(isName), host);
  if (operatorDenied) return deny(`is denied by the operator (${operatorDenied.text})`);
  if (matchesName(rules.allowOut, host)) {
    return matchesName(rules.operatorAllow, host)
      ? { allowed: true, addressesMustMatch: false }
      : deny("is outside what the operator allows");
  }
  // A name not listed may still be allowed by the networks it resolves into.
  if (rules.allowOut.some(isNetwork)) return { allowed: true, addressesMustMatch: true };
  return deny("is not in allow_out");
}

/** Where an address came from: the operator's hosts map (trusted as the operator allowing it) or a resolver. */
export interface ResolvedAddress {
  address: IpAddress;
  fromHosts: boolean;
}

/** What the deny rules need to know about the machine the proxy runs on. */
export interface AddressContext {
  allowPrivate: boolean;
  /** Addresses of this host (any port). */
  ownAddresses: readonly IpAddress[];
  /** The server's own listening address and port pairs. */
  serverEndpoints: readonly { address: IpAddress; port: number }[];
}

/**
 * Checks every resolved address against the deny rules; the first refusal
 * wins. `port` is where the proxy would connect (the hosts map may change it).
 */
export function decideAddresses(
  rules: Rules,
  context: AddressContext,
  host: string,
  port: number,
  addresses: readonly ResolvedAddress[],
  addressesMustMatch: boolean,
): { allowed: true } | { allowed: false; reason: string } {
  const target = `${host}:${port}`;
  for (const { address, fromHosts } of addresses) {
    const text = formatIpAddress(address);
    const resolves = address.family === 4 && host === text ? target : `${target} (${text})`;
    const denied = matchesAddress(rules.denyOut.filter(isNetwork), address);
    if (denied) return { allowed: false, reason: `${resolves} is in deny_out (${denied.text})` };
    if (addressesMustMatch && !matchesAddress(rules.allowOut.filter(isNetwork), address)) {
      return { allowed: false, reason: `${target} is not in allow_out` };
    }
    if (addressesMustMatch && !matchesAddress(rules.operatorAllow, address)) {
      return { allowed: false, reason: `${resolves} is outside what the operator allows` };
    }
    const same = (other: IpAddress) => other.family === address.family && other.value === address.value;
    // The server's own listening ports, even where the operator's hosts map points a name at them.
    if (context.serverEndpoints.some((endpoint) => endpoint.port === port && same(endpoint.address))) {
      return { allowed: false, reason: `${resolves} is this server's own address, always denied` };
    }
    // The operator's hosts map is the operator allowing that address, whatever it is.
    if (fromHosts) continue;
    const operatorDenied = matchesAddress(rules.operatorDeny.filter(isNetwork), address);
    if (operatorDenied) return { allowed: false, reason: `${resolves} is denied by the operator (${operatorDenied.text})` };
    const range = specialRangeOf(address);
    if (range && !(range.private && context.allowPrivate)) {
      return { allowed: false, reason: `${resolves} is ${range.name}, always denied` };
    }
    if (context.ownAddresses.some(same)) {
      return { allowed: false, reason: `${resolves} is this server's own address, always denied` };
    }
  }
  return { allowed: true };
}

function isNetwork(rule: Rule): boolean {
  return rule.kind === "network" || rule.kind === "any";
}

function isName(rule: Rule): boolean {
  return rule.kind !== "network";
}
