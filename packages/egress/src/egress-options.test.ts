import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EgressSettingsError, egressOptionsFromEnv } from "./egress-options.js";

const directory = mkdtempSync(join(tmpdir(), "egress-options-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function problemsOf(env: Record<string, string>): string[] {
  try {
    egressOptionsFromEnv(env);
  } catch (error) {
    if (error instanceof EgressSettingsError) return error.problems;
    throw error;
  }
  throw new Error("no error");
}

describe("egressOptionsFromEnv", () => {
  it("reads every setting", () => {
    const options = egressOptionsFromEnv({
      EGRESS_ALLOW: "*.example.com, pypi.org,203.0.113.0/24",
      EGRESS_DENY: "203.0.113.7",
      EGRESS_ALLOW_PRIVATE: "true",
      EGRESS_HOSTS: "files.example.test=127.0.0.1:18443, v6.example.test=[::1]",
      EGRESS_SECRETS: JSON.stringify({ openai: { value_env: "OPENAI_KEY", hosts: ["api.openai.com"], format: "Bearer {value}" } }),
      OPENAI_KEY: "sk-from-env",
      EGRESS_UPSTREAM_CA: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      EGRESS_STATE_DIR: "/run/egress",
      EGRESS_MAX_CONNECTIONS: "8",
      EGRESS_BYTES_PER_SECOND: "1000000",
      EGRESS_MAX_BYTES: "0",
      EGRESS_MAX_CONNECTIONS_IGNORED: "x",
      EGRESS_LISTEN: "0.0.0.0:3129",
      EGRESS_ADVERTISE_ADDRESS: "10.1.2.3",
    });
    expect(options).toEqual({
      allowOut: ["*.example.com", "pypi.org", "203.0.113.0/24"],
      denyOut: ["203.0.113.7"],
      allowPrivate: true,
      hosts: { "files.example.test": { address: "127.0.0.1", port: 18443 }, "v6.example.test": { address: "::1" } },
      secrets: { openai: { value: "sk-from-env", hosts: ["api.openai.com"], header: "Authorization", format: "Bearer {value}" } },
      upstreamCa: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      stateDirectory: "/run/egress",
      maxConnections: 8,
      bytesPerSecond: 1_000_000,
      maxBytes: 0,
      listen: { host: "0.0.0.0", port: 3129 },
      advertise: { host: "10.1.2.3" },
    });
  });

  it("wants EGRESS_LISTEN as address:port, and EGRESS_ADVERTISE_ADDRESS as an address", () => {
    expect(problemsOf({ EGRESS_LISTEN: "0.0.0.0", EGRESS_ADVERTISE_ADDRESS: "proxy.example:3129" })).toEqual([
      'EGRESS_LISTEN="0.0.0.0": write address:port',
      'EGRESS_ADVERTISE_ADDRESS="proxy.example:3129": write address:port (an IP address; the port may be left out)',
    ]);
  });

  it("treats empty variables as unset", () => {
    expect(egressOptionsFromEnv({ EGRESS_ALLOW: "", EGRESS_HOSTS: "", EGRESS_MAX_BYTES: "" })).toEqual({});
  });

  it("reads EGRESS_ALLOW=none as nothing allowed, and none must stand alone", () => {
    expect(egressOptionsFromEnv({ EGRESS_ALLOW: "none" })).toEqual({ allowOut: [] });
    expect(problemsOf({ EGRESS_ALLOW: "none,pypi.org" })).toEqual(['EGRESS_ALLOW="none,pypi.org": none stands alone (no egress at all)']);
  });

  it("names every bad variable at once", () => {
    const problems = problemsOf({
      EGRESS_ALLOW: "pypi.org,bad host!",
      EGRESS_ALLOW_PRIVATE: "yes",
      EGRESS_HOSTS: "files.example.test=not-an-address,broken",
      EGRESS_MAX_CONNECTIONS: "0",
      EGRESS_MAX_BYTES: "ten",
      EGRESS_UPSTREAM_CA: join(directory, "missing.pem"),
    });
    expect(problems).toEqual([
      'EGRESS_ALLOW: "bad host!" is not a valid domain, *. wildcard, IP address or CIDR network',
      'EGRESS_ALLOW_PRIVATE="yes": write true or false',
      'EGRESS_HOSTS: "files.example.test=not-an-address" is not name=address[:port] (an IP address, not a name)',
      'EGRESS_HOSTS: "broken" is not name=address[:port] (an IP address, not a name)',
      `EGRESS_UPSTREAM_CA=${JSON.stringify(join(directory, "missing.pem"))}: cannot be read (ENOENT)`,
      'EGRESS_MAX_CONNECTIONS="0": write a whole number, at least 1',
      'EGRESS_MAX_BYTES="ten": write a whole number, at least 0',
    ]);
  });

  it("says what is wrong with a secret without ever saying its value", () => {
    const problems = problemsOf({
      EGRESS_SECRETS: JSON.stringify({
        a: { value: "sk-leak-me\nX-Evil: 1", hosts: ["api.example.com"] },
        b: { value: "sk-leak-me-too", hosts: ["10.0.0.1"], format: "Bearer" },
        c: { value_env: "UNSET_VARIABLE", hosts: ["*.example.com"], header: "Bad Header" },
      }),
    });
    expect(problems).toEqual([
      'EGRESS_SECRETS: secret "a": the value holds a control character (a line break?), which no header can carry',
      'EGRESS_SECRETS: secret "b": hosts: "10.0.0.1" is not a host name (exact or *.)',
      'EGRESS_SECRETS: secret "b": format must be a string holding {value}, e.g. "Bearer {value}"',
      'EGRESS_SECRETS: secret "c": value_env names UNSET_VARIABLE, which is not set',
      'EGRESS_SECRETS: secret "c": header must be a header name',
    ]);
    expect(problems.join("\n")).not.toContain("sk-leak");
    expect(problemsOf({ EGRESS_SECRETS: "{not json" })).toEqual(["EGRESS_SECRETS: is not valid JSON"]);
  });
});
