import { describe, expect, it } from "vitest";
import { NetworkPolicySchema } from "../api/schemas.js";
import { networkEntryKind } from "./network-entries.js";

describe("networkEntryKind", () => {
  it.each([
    ["pypi.org", "domain"],
    ["files.example.test", "domain"],
    ["*.pythonhosted.org", "wildcard"],
    ["203.0.113.7", "address"],
    ["203.0.113.0/24", "cidr"],
    ["2001:db8::1", "address"],
    ["::ffff:192.0.2.1", "address"],
    ["2001:db8::/32", "cidr"],
    ["1:2:3:4:5:6:7:8", "address"],
  ])("%s is a %s", (entry, kind) => {
    expect(networkEntryKind(entry)).toBe(kind);
  });

  it.each([
    "",
    "pypi org",
    "https://pypi.org",
    "pypi.org:443",
    "*",
    "*.*.org",
    "pypi.*",
    "-bad.org",
    "10.0.0",
    "256.1.1.1",
    "203.0.113.0/33",
    "2001:db8::/129",
    "1::2::3",
    "fe80::1%eth0",
  ])("%j is none", (entry) => {
    expect(networkEntryKind(entry)).toBeUndefined();
  });
});

describe("NetworkPolicySchema", () => {
  it("defaults both lists to empty and names a bad entry", () => {
    expect(NetworkPolicySchema.parse({})).toEqual({ allow_out: [], deny_out: [] });
    const bad = NetworkPolicySchema.safeParse({ allow_out: ["pypi.org", "http://x"] });
    expect(bad.error?.issues[0]?.message).toMatch(/allow_out entry "http:\/\/x" is not a domain/);
    const domainDenied = NetworkPolicySchema.safeParse({ deny_out: ["evil.example"] });
    expect(domainDenied.error?.issues[0]?.message).toMatch(/deny_out entry "evil.example" is not an IP address or a CIDR/);
  });

  it("refuses unknown fields and too many entries", () => {
    expect(NetworkPolicySchema.safeParse({ allow: ["pypi.org"] }).error?.issues[0]?.message).toMatch(
      /only allow_out and deny_out, not allow/,
    );
    expect(NetworkPolicySchema.safeParse({ allow_out: Array(257).fill("pypi.org") }).error?.issues[0]?.message).toMatch(/more than 256/);
  });
});
