// The syntax of a `network` policy's entries, checked where the request comes in (a 422 naming
// the entry). Whether an entry is within the operator's bounds is the proxy's to say. Written
// without node:net so the schemas stay importable anywhere.

/** What an entry of `allow_out` or `deny_out` is. */
export type NetworkEntryKind = "domain" | "wildcard" | "address" | "cidr";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

function isDomain(value: string): boolean {
  if (value.length > 253) return false;
  const labels = value.split(".");
  // The last label of a name is never all digits: "10.0.0" is a mistyped address, not a host name.
  return labels.every((label) => LABEL.test(label)) && !/^\d+$/.test(labels[labels.length - 1] as string);
}

function isIPv4(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 && parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255);
}

function isIPv6(value: string): boolean {
  if (value.includes("%")) return false;
  const halves = value.split("::");
  if (halves.length > 2) return false;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  const all = [...head, ...tail];
  // An embedded IPv4 (::ffff:192.0.2.1) counts as two groups, and only at the end.
  const last = all[all.length - 1];
  const embedded = last?.includes(".") === true;
  if (embedded && !isIPv4(last as string)) return false;
  const hexGroups = embedded ? all.slice(0, -1) : all;
  if (!hexGroups.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return false;
  const count = hexGroups.length + (embedded ? 2 : 0);
  return halves.length === 2 ? count < 8 : count === 8;
}

/** The kind of a `network` entry, or undefined when it is none of them. */
export function networkEntryKind(entry: string): NetworkEntryKind | undefined {
  const slash = entry.indexOf("/");
  if (slash >= 0) {
    const address = entry.slice(0, slash);
    const prefix = entry.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(prefix)) return undefined;
    const bits = Number(prefix);
    if (isIPv4(address)) return bits <= 32 ? "cidr" : undefined;
    if (isIPv6(address)) return bits <= 128 ? "cidr" : undefined;
    return undefined;
  }
  if (isIPv4(entry) || isIPv6(entry)) return "address";
  if (entry.startsWith("*.")) return isDomain(entry.slice(2)) ? "wildcard" : undefined;
  return isDomain(entry) ? "domain" : undefined;
}
