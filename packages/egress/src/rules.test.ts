import { describe, expect, it } from "vitest";
import { parseIpAddress } from "./addresses.js";
import { type AddressContext, decideAddresses, decideName, parseRule, parseRules, type Rule, type Rules, ruleCoveredBy } from "./rules.js";

const rules = (list: string[]): Rule[] => {
  const parsed = parseRules(list, "test");
  if (parsed.problems.length > 0) throw new Error(parsed.problems.join("; "));
  return parsed.rules;
};
const policy = (allowOut: string[], denyOut: string[] = [], operatorAllow = ["*"], operatorDeny: string[] = []): Rules => ({
  allowOut: rules(allowOut),
  denyOut: rules(denyOut),
  operatorAllow: rules(operatorAllow),
  operatorDeny: rules(operatorDeny),
});
const address = (text: string) => {
  const parsed = parseIpAddress(text);
  if (parsed === undefined) throw new Error(text);
  return parsed;
};
const context: AddressContext = {
  allowPrivate: false,
  ownAddresses: [address("198.51.100.9")],
  serverEndpoints: [{ address: address("203.0.113.80"), port: 8000 }],
};

describe("parseRule", () => {
  it.each([
    ["pypi.org", { kind: "domain", name: "pypi.org" }],
    ["PyPI.org.", { kind: "domain", name: "pypi.org" }],
    ["*.pythonhosted.org", { kind: "wildcard", suffix: ".pythonhosted.org" }],
    ["203.0.113.0/24", { kind: "network" }],
    ["203.0.113.7", { kind: "network" }],
    ["2001:db8::/32", { kind: "network" }],
    ["*", { kind: "any" }],
  ])("reads %s", (text, expected) => {
    expect(parseRule(text)).toMatchObject(expected);
  });

  it.each([
    ["bad host!", "is not a valid domain"],
    ["*.", "is not a valid wildcard domain"],
    ["a.*.example.com", "is not a valid domain"],
    ["10.0.0.0/33", "is not a valid IP address or CIDR network"],
    ["300.1.1.1", "is not a valid IP address or CIDR network"],
    ["bücher.example", "punycode"],
    ["-leading.example", "is not a valid domain"],
  ])("refuses %s, saying why", (text, reason) => {
    expect(parseRule(text)).toEqual(expect.stringContaining(reason));
  });
});

describe("ruleCoveredBy (a request within the operator's bounds)", () => {
  it.each([
    ["pypi.org", ["*"], true],
    ["pypi.org", ["pypi.org"], true],
    ["files.pythonhosted.org", ["*.pythonhosted.org"], true],
    ["pythonhosted.org", ["*.pythonhosted.org"], false],
    ["*.a.example.com", ["*.example.com"], true],
    ["*.example.com", ["*.a.example.com"], false],
    ["203.0.113.0/25", ["203.0.113.0/24"], true],
    ["203.0.113.0/23", ["203.0.113.0/24"], false],
    ["*", ["*.example.com", "0.0.0.0/0"], false],
    ["example.org", ["0.0.0.0/0"], false],
  ])("%s within %j: %s", (entry, bounds, covered) => {
    const [rule] = rules([entry]);
    if (rule === undefined) throw new Error(entry);
    expect(ruleCoveredBy(rule, rules(bounds))).toBe(covered);
  });
});

describe("decideName", () => {
  it.each([
    [policy(["pypi.org"]), "pypi.org", 443, { allowed: true, addressesMustMatch: false }],
    [policy(["*.example.com"]), "a.b.example.com", 443, { allowed: true, addressesMustMatch: false }],
    [policy(["*.example.com"]), "example.com", 443, { allowed: false, reason: "example.com:443 is not in allow_out" }],
    [policy(["pypi.org"]), "evil.test", 80, { allowed: false, reason: "evil.test:80 is not in allow_out" }],
    [policy(["203.0.113.0/24"]), "cdn.example.com", 443, { allowed: true, addressesMustMatch: true }],
    [policy(["*"], ["*.evil.test"]), "a.evil.test", 443, { allowed: false, reason: "a.evil.test:443 is in deny_out (*.evil.test)" }],
    [
      policy(["*"], [], ["*"], ["tracker.example"]),
      "tracker.example",
      443,
      { allowed: false, reason: "tracker.example:443 is denied by the operator (tracker.example)" },
    ],
    [policy(["pypi.org"], [], ["*.org"]), "pypi.org", 443, { allowed: true, addressesMustMatch: false }],
    [
      policy(["pypi.org"], [], ["files.org"]),
      "pypi.org",
      443,
      { allowed: false, reason: "pypi.org:443 is outside what the operator allows" },
    ],
  ])("%#: %s:%i", (rulesForCase, host, port, expected) => {
    expect(decideName(rulesForCase, host, port, undefined)).toEqual(expected);
  });

  it.each([
    [policy(["203.0.113.0/24"]), "203.0.113.7", { allowed: true, addressesMustMatch: false }],
    [
      policy(["203.0.113.0/24"], ["203.0.113.7/32"]),
      "203.0.113.7",
      { allowed: false, reason: "203.0.113.7:443 is in deny_out (203.0.113.7/32)" },
    ],
    [policy(["pypi.org"]), "203.0.113.7", { allowed: false, reason: "203.0.113.7:443 is not in allow_out" }],
    [policy(["*"]), "203.0.113.7", { allowed: true, addressesMustMatch: false }],
  ])("%#: an IPv4 literal %s", (rulesForCase, host, expected) => {
    expect(decideName(rulesForCase, host, 443, address(host))).toEqual(expected);
  });
});

describe("decideAddresses", () => {
  const resolved = (...texts: string[]) => texts.map((text) => ({ address: address(text), fromHosts: false }));
  it.each([
    ["203.0.113.5", undefined],
    ["127.0.0.1", "a.test:443 (127.0.0.1) is a loopback address, always denied"],
    ["169.254.169.254", "a.test:443 (169.254.169.254) is a link-local address (cloud metadata lives there), always denied"],
    ["10.1.2.3", "a.test:443 (10.1.2.3) is a private address, always denied"],
    ["0.0.0.0", "a.test:443 (0.0.0.0) is an unspecified address, always denied"],
    ["224.0.0.1", "a.test:443 (224.0.0.1) is a multicast address, always denied"],
    ["::1", "a.test:443 (0:0:0:0:0:0:0:1) is a loopback address, always denied"],
    ["::ffff:127.0.0.1", "a.test:443 (0:0:0:0:0:ffff:7f00:1) is a loopback address, always denied"],
    ["64:ff9b::a9fe:a9fe", "a.test:443 (64:ff9b:0:0:0:0:a9fe:a9fe) is a link-local address (cloud metadata lives there), always denied"],
    ["fd00::1", "a.test:443 (fd00:0:0:0:0:0:0:1) is a private address, always denied"],
    ["198.51.100.9", "a.test:443 (198.51.100.9) is this server's own address, always denied"],
  ])("%s: %s", (text, reason) => {
    const decision = decideAddresses(policy(["a.test"]), context, "a.test", 443, resolved(text), false);
    expect(decision).toEqual(reason === undefined ? { allowed: true } : { allowed: false, reason });
  });

  it("refuses a name when any one of its addresses is denied", () => {
    expect(decideAddresses(policy(["a.test"]), context, "a.test", 443, resolved("203.0.113.5", "127.0.0.1"), false)).toMatchObject({
      allowed: false,
    });
  });

  it("refuses the server's own port, and not another port on the same address", () => {
    expect(decideAddresses(policy(["a.test"]), context, "a.test", 8000, resolved("203.0.113.80"), false)).toMatchObject({ allowed: false });
    expect(decideAddresses(policy(["a.test"]), context, "a.test", 443, resolved("203.0.113.80"), false)).toEqual({ allowed: true });
  });

  it("lets private ranges through when the operator allows them, never loopback or link-local", () => {
    const open = { ...context, allowPrivate: true };
    expect(decideAddresses(policy(["a.test"]), open, "a.test", 443, resolved("10.1.2.3"), false)).toEqual({ allowed: true });
    expect(decideAddresses(policy(["a.test"]), open, "a.test", 443, resolved("169.254.169.254"), false)).toMatchObject({ allowed: false });
  });

  it("trusts an address from the operator's hosts map, but still applies the request's deny_out", () => {
    const mapped = [{ address: address("127.0.0.1"), fromHosts: true }];
    expect(decideAddresses(policy(["a.test"]), context, "a.test", 18443, mapped, false)).toEqual({ allowed: true });
    expect(decideAddresses(policy(["a.test"], ["127.0.0.0/8"]), context, "a.test", 18443, mapped, false)).toEqual({
      allowed: false,
      reason: "a.test:18443 (127.0.0.1) is in deny_out (127.0.0.0/8)",
    });
  });

  it("refuses the server's own port even where the operator's hosts map points a name at it", () => {
    const mapped = [{ address: address("203.0.113.80"), fromHosts: true }];
    expect(decideAddresses(policy(["a.test"]), context, "a.test", 8000, mapped, false)).toEqual({
      allowed: false,
      reason: "a.test:8000 (203.0.113.80) is this server's own address, always denied",
    });
    expect(decideAddresses(policy(["a.test"]), context, "a.test", 8001, mapped, false)).toEqual({ allowed: true });
  });

  it("allows a name by its networks only when every address is in them", () => {
    const cidr = policy(["203.0.113.0/24"]);
    expect(decideAddresses(cidr, context, "cdn.test", 443, resolved("203.0.113.5"), true)).toEqual({ allowed: true });
    expect(decideAddresses(cidr, context, "cdn.test", 443, resolved("203.0.113.5", "192.0.2.1"), true)).toEqual({
      allowed: false,
      reason: "cdn.test:443 is not in allow_out",
    });
  });
});
