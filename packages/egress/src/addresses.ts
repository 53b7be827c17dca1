import { isIPv4, isIPv6 } from "node:net";

/** An IP address as a number, so networks are plain arithmetic. */
export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

/** An IP network: `base` with its first `prefix` bits significant. */
export interface IpNetwork extends IpAddress {
  prefix: number;
}

const bitsOf = (family: 4 | 6) => (family === 4 ? 32 : 128);

/** Parses an IPv4 or IPv6 address (dotted IPv4 only: `127.1` or `0x7f.0.0.1` are not addresses here); undefined otherwise. */
export function parseIpAddress(text: string): IpAddress | undefined {
  if (isIPv4(text)) {
    const value = text.split(".").reduce((total, part) => (total << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (isIPv6(text) && !text.includes("%")) return { family: 6, value: ipv6Value(text) };
  return undefined;
}

function ipv6Value(text: string): bigint {
  let source = text;
  // A dotted IPv4 tail (`::ffff:1.2.3.4`) is written as its two groups first.
  const lastColon = source.lastIndexOf(":");
  const tail = source.slice(lastColon + 1);
  if (tail.includes(".")) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split(".").map(Number);
    source = `${source.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groupsOf = (part: string) => (part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16)));
  const [left = "", right] = source.split("::");
  const leftGroups = groupsOf(left);
  const rightGroups = right === undefined ? [] : groupsOf(right);
  const groups = [...leftGroups, ...new Array<number>(8 - leftGroups.length - rightGroups.length).fill(0), ...rightGroups];
  return groups.reduce((total, group) => (total << 16n) | BigInt(group), 0n);
}

/** Parses `address` or `address/prefix`; undefined when it is neither. */
export function parseIpNetwork(text: string): IpNetwork | undefined {
  const [addressText = "", prefixText, extra] = text.split("/");
  if (extra !== undefined) return undefined;
  const address = parseIpAddress(addressText);
  if (address === undefined) return undefined;
  const bits = bitsOf(address.family);
  if (prefixText === undefined) return { ...address, prefix: bits };
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits) return undefined;
  return { family: address.family, value: address.value & mask(address.family, prefix), prefix };
}

function mask(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return prefix === 0 ? 0n : (all >> (bits - BigInt(prefix))) << (bits - BigInt(prefix));
}

/** True when `address` lies in `network`. */
export function networkContains(network: IpNetwork, address: IpAddress): boolean {
  return network.family === address.family && (address.value & mask(network.family, network.prefix)) === network.value;
}

/** True when every address of `inner` lies in `outer`. */
export function networkCovers(outer: IpNetwork, inner: IpNetwork): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && networkContains(outer, inner);
}

/** The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address. */
export function embeddedIpv4(address: IpAddress): IpAddress | undefined {
  if (address.family !== 6) return undefined;
  for (const network of [EMBEDDING_MAPPED, EMBEDDING_NAT64]) {
    if (networkContains(network, address)) return { family: 4, value: address.value & 0xffffffffn };
  }
  return undefined;
}

const network = (text: string): IpNetwork => {
  const parsed = parseIpNetwork(text);
  if (parsed === undefined) throw new Error(`bad built-in network ${text}`);
  return parsed;
};
const EMBEDDING_MAPPED = network("::ffff:0:0/96");
const EMBEDDING_NAT64 = network("64:ff9b::/96");

/** A class of addresses a sandbox never reaches unless the operator maps a name to one (EGRESS_HOSTS). */
export interface SpecialRange {
  /** How a person calls these addresses, as the refusal says it. */
  name: string;
  /** Whether EGRESS_ALLOW_PRIVATE lifts it. */
  private: boolean;
  networks: IpNetwork[];
}

/** The always-denied ranges, first match wins. */
export const SPECIAL_RANGES: readonly SpecialRange[] = [
  { name: "a loopback address", private: false, networks: ["127.0.0.0/8", "::1/128"].map(network) },
  { name: "an unspecified address", private: false, networks: ["0.0.0.0/8", "::/128"].map(network) },
  {
    name: "a link-local address (cloud metadata lives there)",
    private: false,
    networks: ["169.254.0.0/16", "fe80::/10"].map(network),
  },
  { name: "a multicast address", private: false, networks: ["224.0.0.0/4", "ff00::/8"].map(network) },
  { name: "a reserved address", private: false, networks: ["240.0.0.0/4", "192.0.0.0/24"].map(network) },
  {
    name: "a private address",
    private: true,
    networks: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15", "fc00::/7", "fec0::/10"].map(network),
  },
];

/** The always-denied range `address` is in (looking through IPv4-mapped and NAT64 forms), if any. */
export function specialRangeOf(address: IpAddress): SpecialRange | undefined {
  const candidates = [address, embeddedIpv4(address)].filter((candidate) => candidate !== undefined);
  return SPECIAL_RANGES.find((range) => range.networks.some((entry) => candidates.some((candidate) => networkContains(entry, candidate))));
}

/** Writes an address back as text (IPv6 in its full, uncompressed form). */
export function formatIpAddress(address: IpAddress): string {
  if (address.family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((address.value >> shift) & 0xffn)).join(".");
  return Array.from({ length: 8 }, (_, index) => ((address.value >> BigInt(112 - index * 16)) & 0xffffn).toString(16)).join(":");
}
