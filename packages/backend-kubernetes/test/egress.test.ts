// Issue 22 on the kubernetes backend, end to end through the real client: pods (Docker containers
// on the double's internal network, whose only other host is this machine at the network's gateway)
// reach the real egress proxy in this process on its TCP listener, presenting their token, and the
// tests' loopback "internet" behind it through the proxy's hosts map. The double cannot enforce
// NetworkPolicy (deploy/networkpolicy.yaml); that pods cannot go around the proxy is the lockdown's
// and the cluster's part, not tested here.

import { createEgressGateway, type EgressProxy } from "@code-interpreter/egress";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { DATA_CSV, type LoopbackInternet, startLoopbackInternet } from "@code-interpreter/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubernetesBackend } from "../src/index.js";
import { createTestBackend, dockerAvailable, leftovers, startDouble, stopDouble } from "./support.js";

const available = await dockerAvailable();

describe.skipIf(!available)("egress on the kubernetes backend (pods on the double's internal network)", { timeout: 120_000 }, () => {
  let double: KubernetesDouble;
  let internet: LoopbackInternet;
  let gateway: EgressProxy;
  let backend: KubernetesBackend;

  beforeAll(async () => {
    [double, internet] = await Promise.all([startDouble({ runtime: "docker", podNetwork: "internal" }), startLoopbackInternet()]);
    gateway = await createEgressGateway({
      hosts: {
        "files.example.test": { address: "127.0.0.1", port: internet.https.port },
        "denied.example.test": { address: "127.0.0.1", port: internet.https.port },
      },
      upstreamCa: internet.caCertificate,
      // Where the pods reach this machine; port 0: any free one.
      listen: { host: double.podNetworkGateway ?? "", port: 0 },
    });
    backend = await createTestBackend(double, { egress: gateway });
  }, 120_000);

  afterAll(async () => {
    await backend?.close();
    await gateway?.close();
    await internet?.close();
    if (double) await stopDouble(double);
  });

  it("is offered only with a gateway that listens on TCP (a pod cannot be given a socket)", async () => {
    expect(backend.capabilities.egress).toBe(true);
    const socketsOnly = await createEgressGateway({});
    const without = await createTestBackend(double, { egress: socketsOnly });
    try {
      expect(without.capabilities.egress).toBe(false);
      await expect(
        without.execute({
          code: "print(1)",
          timeoutMs: 10_000,
          lastLineInteractive: false,
          files: [],
          network: { allow_out: ["x.test"], deny_out: [] },
        }),
      ).rejects.toThrow(/no network egress on the kubernetes backend/);
    } finally {
      await without.close();
      await socketsOnly.close();
    }
  });

  it("downloads over HTTPS from an allowed host, is refused a denied one with the reason, and a wrong token is closed", async () => {
    const refusedBefore = gateway.refusedConnections;
    const tcp = gateway.tcp;
    const code = `
import os, socket, urllib.error, urllib.request
print(urllib.request.urlopen("https://files.example.test/data.csv", timeout=30).read().decode(), end="")
try:
    urllib.request.urlopen("https://denied.example.test/data.csv", timeout=30)
except urllib.error.URLError as error:
    print("denied:", error.reason)
# The proxy's listener, straight, with a token of its own making: closed, never answered.
with socket.create_connection((${JSON.stringify(tcp?.host)}, ${tcp?.port}), timeout=30) as raw:
    raw.sendall(b"0" * 64 + b"\\nCONNECT files.example.test:443 HTTP/1.1\\r\\nHost: files.example.test:443\\r\\n\\r\\n")
    print("wrong token:", raw.recv(100))
print("token in environment:", any(len(value) == 64 and value.isalnum() for value in os.environ.values()))
`;
    const result = await backend.execute({
      code,
      timeoutMs: 60_000,
      lastLineInteractive: false,
      files: [],
      network: { allow_out: ["files.example.test"], deny_out: [] },
    });
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(
      `${DATA_CSV}denied: Tunnel connection failed: 403 Forbidden\nwrong token: b''\ntoken in environment: False\n`,
    );
    expect(result.network).toEqual([
      { host: "files.example.test", port: 443, allowed: true },
      { host: "denied.example.test", port: 443, allowed: false, reason: "denied.example.test:443 is not in allow_out" },
    ]);
    expect(gateway.refusedConnections).toBe(refusedBefore + 1);
  });

  it("gives a session's kernel and its commands one way out", async () => {
    const session = await backend.createSession({
      ttlSeconds: 300,
      files: [],
      network: { allow_out: ["files.example.test"], deny_out: [] },
    });
    try {
      const cell = await backend.runInSession({
        sessionId: session.id,
        language: "python",
        code: 'import urllib.request\nprint(urllib.request.urlopen("https://files.example.test/data.csv", timeout=30).read().decode(), end="")',
        timeoutMs: 60_000,
      });
      expect(cell.stdout).toBe(DATA_CSV);
      const command = await backend.runInSession({
        sessionId: session.id,
        language: "bash",
        code: "python3 -c 'import urllib.request; print(urllib.request.urlopen(\"https://files.example.test/data.csv\", timeout=30).status)'",
        timeoutMs: 60_000,
      });
      expect(command).toMatchObject({ stdout: "200\n", exitCode: 0 });
    } finally {
      await backend.deleteSession(session.id);
    }
  });

  it("leaves no pods behind", async () => {
    expect(await leftovers(double)).toEqual([]);
  });
});
