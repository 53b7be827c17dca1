import { execFile } from "node:child_process";
import { lookup } from "node:dns/promises";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer as createNetServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { EgressAttachment, NetworkAttempt } from "@code-interpreter/core";
import { EGRESS_CA_BUNDLE_NAME, EGRESS_SOCKET_NAME } from "@code-interpreter/core";
import { InvalidRequestError } from "@code-interpreter/core/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEgressGateway, type EgressAttemptEvent, type EgressProxy } from "../src/index.js";
import {
  connectThrough,
  eventually,
  httpsGet,
  proxiedHttp,
  startRelay,
  startTls,
  startUpstreams,
  tunnelThrough,
  type Upstreams,
} from "./support.js";

const run = promisify(execFile);

/** A loopback port nothing listens on. */
async function unusedPort(): Promise<number> {
  const server = createNetServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
const SECRET = "sk-test-4f1d9c0e-never-in-a-sandbox";

let upstreams: Upstreams;
let gateway: EgressProxy;
let bounded: EgressProxy;
const events: EgressAttemptEvent[] = [];
let sandboxCount = 0;
const attachments: EgressAttachment[] = [];

/** Names resolvers would give; DNS itself cannot be reached here, so this stands in for it. */
const dnsAnswers: Record<string, string[]> = {
  "rebind.example.test": ["203.0.113.10", "127.0.0.1"],
  "metadata.example.test": ["169.254.169.254"],
  "public.example.test": ["203.0.113.20"],
  // Loopback, so that even a regression sends nothing off this machine.
  "slow.example.test": ["127.0.0.1"],
};

function gate(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Holds back the answer for slow.example.test until a test lets it go. */
let slowAnswer = gate();
let slowAsked = false;

beforeAll(async () => {
  upstreams = await startUpstreams();
  const closedPort = await unusedPort();
  const hosts = {
    "down.example.test": { address: "127.0.0.1", port: closedPort },
    "files.example.test": { address: "127.0.0.1", port: upstreams.httpsPort },
    "api.example.test": { address: "127.0.0.1", port: upstreams.httpsPort },
    "plain.example.test": { address: "127.0.0.1", port: upstreams.httpPort },
    "denied.example.test": { address: "127.0.0.1", port: upstreams.httpPort },
  };
  const common = {
    hosts,
    upstreamCa: upstreams.testCa,
    resolve: async (host: string) => {
      if (host === "slow.example.test") {
        slowAsked = true;
        await slowAnswer.promise;
      }
      return dnsAnswers[host] ?? (await lookup(host, { all: true })).map((entry) => entry.address);
    },
  };
  [gateway, bounded] = await Promise.all([
    createEgressGateway({
      ...common,
      allowOut: ["*.example.test", "localhost", "169.254.0.0/16", "203.0.113.0/24"],
      secrets: {
        token: { value: SECRET, hosts: ["api.example.test"], header: "Authorization", format: "Bearer {value}" },
        "tenant-b-only": { value: SECRET, hosts: ["api.example.test"], tenants: ["tenant-b"] },
      },
      onAttempt: (event) => events.push(event),
    }),
    createEgressGateway({ ...common, maxConnections: 2, maxBytes: 300_000, bytesPerSecond: 200_000 }),
  ]);
});

afterAll(async () => {
  await Promise.all(attachments.map((attachment) => attachment.close()));
  await Promise.all([gateway?.close(), bounded?.close()]);
  await upstreams?.close();
});

async function open(allowOut: string[], options: { secrets?: string[]; on?: EgressProxy; denyOut?: string[] } = {}) {
  const attachment = await (options.on ?? gateway).open({
    sandboxName: `code-exec-test-${++sandboxCount}`,
    tenant: "tenant-a",
    policy: { allow_out: allowOut, deny_out: options.denyOut ?? [] },
    secrets: options.secrets ?? [],
  });
  attachments.push(attachment);
  const directory = attachment.hostDirectory ?? "";
  return {
    attachment,
    socketPath: join(directory, EGRESS_SOCKET_NAME),
    bundle: readFileSync(join(directory, EGRESS_CA_BUNDLE_NAME), "utf8"),
  };
}

describe("a sandbox's egress attachment", () => {
  it("holds only the socket and the CA bundle, and points the code's environment at them", async () => {
    const { attachment, socketPath, bundle } = await open(["plain.example.test"]);
    expect(readdirSync(attachment.hostDirectory ?? "").sort()).toEqual([EGRESS_CA_BUNDLE_NAME, EGRESS_SOCKET_NAME]);
    expect(statSync(socketPath).mode & 0o777).toBe(0o666);
    expect(gateway.caCertificate).toContain("-----BEGIN CERTIFICATE-----");
    expect(bundle).toContain(String(gateway.caCertificate).trim());
    expect(bundle).not.toContain("PRIVATE KEY");
    expect(attachment.env).toMatchObject({
      HTTPS_PROXY: "http://127.0.0.1:3128",
      https_proxy: "http://127.0.0.1:3128",
      NO_PROXY: "localhost,127.0.0.1,::1",
      SSL_CERT_FILE: "/run/code-interpreter/egress/ca-bundle.pem",
      PIP_CERT: "/run/code-interpreter/egress/ca-bundle.pem",
      npm_config_https_proxy: "http://127.0.0.1:3128",
    });
  });

  it("forwards an allowed plain-HTTP request and lists the attempt", async () => {
    const { attachment, socketPath } = await open(["plain.example.test"]);
    const answer = await proxiedHttp(socketPath, "http://plain.example.test/hello");
    expect(answer).toMatchObject({ status: 200, body: "hello from plain.example.test\n" });
    expect(attachment.drainAttempts()).toEqual([{ host: "plain.example.test", port: 80, allowed: true }]);
    expect(attachment.drainAttempts()).toEqual([]);
    expect(events.some((event) => event.tenant === "tenant-a" && event.attempt.host === "plain.example.test")).toBe(true);
  });

  it("tunnels an allowed HTTPS download untouched, verified by the upstream's own certificate", async () => {
    const { attachment, socketPath, bundle } = await open(["*.example.test"]);
    const tunnel = await tunnelThrough(socketPath, "files.example.test:443");
    const tls = await startTls(tunnel, "files.example.test", bundle);
    // Not the proxy's certificate: the upstream's, from the test CA.
    expect(tls.getPeerCertificate().issuer.CN).toBe("egress tests' upstream CA");
    const answer = await httpsGet(tls, "files.example.test", "/bytes?size=100000");
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBe(100_000);
    tls.destroy();
    expect(attachment.drainAttempts()).toEqual([{ host: "files.example.test", port: 443, allowed: true }]);
  });

  it("answers a denied plain-HTTP host at once with a 403 naming the host and the rule", async () => {
    const { attachment, socketPath } = await open(["plain.example.test"]);
    const answer = await proxiedHttp(socketPath, "http://evil.example.test/");
    expect(answer.status).toBe(403);
    expect(answer.body).toBe("egress denied: evil.example.test:80 is not in allow_out\n");
    expect(attachment.drainAttempts()).toEqual([
      { host: "evil.example.test", port: 80, allowed: false, reason: "evil.example.test:80 is not in allow_out" },
    ]);
  });

  it("refuses CONNECT to a denied host with a 403 and closes", async () => {
    const { attachment, socketPath } = await open(["files.example.test"], { denyOut: ["127.0.0.0/8"] });
    const denied = await connectThrough(socketPath, "evil.example.test:443");
    expect(denied).toEqual({ status: 403, body: "egress denied: evil.example.test:443 is not in allow_out\n" });
    // deny_out wins over allow_out, on the address the name is mapped to.
    const mapped = await connectThrough(socketPath, "files.example.test:443");
    expect(mapped.status).toBe(403);
    expect(attachment.drainAttempts().map((attempt) => attempt.reason)).toEqual([
      "evil.example.test:443 is not in allow_out",
      `files.example.test:${upstreams.httpsPort} (127.0.0.1) is in deny_out (127.0.0.0/8)`,
    ]);
  });

  it("answers 502 with the reason when an allowed upstream cannot be reached, for CONNECT and plain HTTP", async () => {
    const { attachment, socketPath } = await open(["down.example.test"]);
    expect(await connectThrough(socketPath, "down.example.test:443")).toEqual({
      status: 502,
      body: "egress failed: down.example.test:443 could not be reached (ECONNREFUSED)\n",
    });
    expect(await proxiedHttp(socketPath, "http://down.example.test/")).toMatchObject({
      status: 502,
      body: "egress failed: down.example.test:80 could not be reached (ECONNREFUSED)\n",
    });
    expect(attachment.drainAttempts()[0]).toEqual({
      host: "down.example.test",
      port: 443,
      allowed: true,
      reason: "down.example.test:443 could not be reached (ECONNREFUSED)",
    });
  });

  it("refuses a tunnel whose TLS SNI is not its CONNECT host, before the upstream sees a byte", async () => {
    const { attachment, socketPath, bundle } = await open(["*.example.test"]);
    const before = upstreams.seen.length;
    const tunnel = await tunnelThrough(socketPath, "files.example.test:443");
    await expect(startTls(tunnel, "evil.example.test", bundle)).rejects.toThrow();
    const attempts: NetworkAttempt[] = [];
    await eventually(() => attempts.push(...attachment.drainAttempts()) > 0);
    expect(attempts).toEqual([
      {
        host: "files.example.test",
        port: 443,
        allowed: false,
        reason: "SNI evil.example.test does not match CONNECT host files.example.test",
      },
    ]);
    expect(upstreams.seen.length).toBe(before);
  });

  it("tells a client that is not using it as a proxy what to do, and refuses plain-HTTP upgrades with a reason", async () => {
    const { attachment, socketPath } = await open(["plain.example.test"]);
    const originForm = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      httpRequest({ socketPath, agent: false, path: "/hello", headers: { host: "plain.example.test" } }, (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      })
        .on("error", reject)
        .end();
    });
    expect(originForm).toEqual({
      status: 400,
      body: "egress proxy: it takes absolute-form requests (http://host/path): point HTTP_PROXY at it\n",
    });
    const upgrade = await new Promise<number>((resolve, reject) => {
      httpRequest({
        socketPath,
        agent: false,
        path: "http://plain.example.test/socket",
        headers: { host: "plain.example.test", connection: "Upgrade", upgrade: "websocket" },
      })
        .on("response", (response) => resolve(response.statusCode ?? 0))
        .on("upgrade", () => reject(new Error("upgraded")))
        .on("error", reject)
        .end();
    });
    expect(upgrade).toBe(403);
    expect(attachment.drainAttempts()).toEqual([
      {
        host: "plain.example.test",
        port: 80,
        allowed: false,
        reason: "the egress proxy does not forward protocol upgrades over plain HTTP; use wss:// or https:// (CONNECT)",
      },
    ]);
  });

  it("refuses a plain-HTTP request whose Host header is not its URL's host", async () => {
    const { attachment, socketPath } = await open(["plain.example.test"]);
    const answer = await proxiedHttp(socketPath, "http://plain.example.test/hello", { host: "evil.example.test" });
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('the Host header "evil.example.test" does not match');
    expect(attachment.drainAttempts()[0]).toMatchObject({ host: "plain.example.test", allowed: false });
  });

  it("refuses the second hop of a redirect to a denied host (curl through a forwarder, as in a sandbox)", async () => {
    const { attachment, socketPath } = await open(["plain.example.test"]);
    const relay = await startRelay(socketPath);
    try {
      const { stdout } = await run("curl", [
        "-sS",
        "-L",
        "--proxy",
        `http://127.0.0.1:${relay.port}`,
        "-w",
        "\n%{http_code}",
        "http://plain.example.test/redirect?to=http://denied.example.test/secret",
      ]);
      expect(stdout).toBe("egress denied: denied.example.test:80 is not in allow_out\n\n403");
    } finally {
      await relay.close();
    }
    expect(attachment.drainAttempts()).toEqual([
      { host: "plain.example.test", port: 80, allowed: true },
      { host: "denied.example.test", port: 80, allowed: false, reason: "denied.example.test:80 is not in allow_out" },
    ]);
  });

  it("checks every address a name resolves to, so a name on loopback or the metadata address is refused", async () => {
    const { attachment, socketPath } = await open(["rebind.example.test", "metadata.example.test", "localhost", "169.254.169.254"]);
    for (const target of ["rebind.example.test:443", "metadata.example.test:80", "localhost:443", "169.254.169.254:80"]) {
      expect((await connectThrough(socketPath, target)).status).toBe(403);
    }
    const reasons = attachment.drainAttempts().map((attempt) => attempt.reason);
    expect(reasons[0]).toBe("rebind.example.test:443 (127.0.0.1) is a loopback address, always denied");
    expect(reasons[1]).toBe(
      "metadata.example.test:80 (169.254.169.254) is a link-local address (cloud metadata lives there), always denied",
    );
    expect(reasons[2]).toMatch(/^localhost:443 \((127\.0\.0\.1|0:0:0:0:0:0:0:1)\) is a loopback address, always denied$/);
    expect(reasons[3]).toBe("169.254.169.254:80 is a link-local address (cloud metadata lives there), always denied");
  });

  it("refuses IPv6 literal destinations with a reason", async () => {
    const { attachment, socketPath } = await open(["*.example.test"]);
    expect(await connectThrough(socketPath, "[::1]:443")).toEqual({
      status: 403,
      body: "egress denied: ::1:443: IPv6 literal destinations are not supported; ask for the host by name\n",
    });
    expect((await proxiedHttp(socketPath, "http://[2001:db8::1]/")).status).toBe(403);
    expect(attachment.drainAttempts().every((attempt) => !attempt.allowed)).toBe(true);
  });

  it("adds a secret as a header on its host only, and never lets the value into an attempt or the sandbox's directory", async () => {
    const { attachment, socketPath, bundle } = await open(["*.example.test"], { secrets: ["token"] });
    const tunnel = await tunnelThrough(socketPath, "api.example.test:443");
    const tls = await startTls(tunnel, "api.example.test", bundle);
    expect(tls.getPeerCertificate().issuer.CN).toBe("code-interpreter egress proxy CA");
    const before = upstreams.seen.length;
    const answer = await httpsGet(tls, "api.example.test", "/hello", { authorization: "Bearer forged-by-the-code" });
    expect(answer).toMatchObject({ status: 200, body: "hello from api.example.test\n" });
    expect(upstreams.seen[before]?.headers.authorization).toBe(`Bearer ${SECRET}`);
    // Inside the TLS the proxy opened for api.example.test, a request for another host is refused.
    const again = await tunnelThrough(socketPath, "api.example.test:443");
    const againTls = await startTls(again, "api.example.test", bundle);
    const other = await httpsGet(againTls, "files.example.test", "/hello");
    expect(other.status).toBe(403);
    tls.destroy();
    againTls.destroy();
    expect(other.body).toBe('egress denied: the Host header "files.example.test" does not match CONNECT host api.example.test:443\n');
    // A host without the secret is tunnelled untouched.
    const plainTunnel = await tunnelThrough(socketPath, "files.example.test:443");
    const direct = await startTls(plainTunnel, "files.example.test", bundle);
    await httpsGet(direct, "files.example.test", "/hello");
    expect(upstreams.seen.at(-1)?.headers.authorization).toBeUndefined();
    direct.destroy();
    const attempts = attachment.drainAttempts();
    expect(attempts[0]).toEqual({
      host: "api.example.test",
      port: 443,
      allowed: true,
      reason: "TLS opened by the proxy to add the secret token",
    });
    expect(JSON.stringify(attempts)).not.toContain(SECRET);
    expect(JSON.stringify(attachment.env)).not.toContain(SECRET);
    for (const file of readdirSync(attachment.hostDirectory ?? "")) {
      if (file === EGRESS_CA_BUNDLE_NAME) expect(readFileSync(join(attachment.hostDirectory ?? "", file), "utf8")).not.toContain(SECRET);
    }
  });

  it("closes an open tunnel that a new policy forbids, and says why", async () => {
    const { attachment, socketPath, bundle } = await open(["files.example.test", "plain.example.test"]);
    const tunnel = await tunnelThrough(socketPath, "files.example.test:443");
    const tls = await startTls(tunnel, "files.example.test", bundle);
    const closed = new Promise((resolve) => tls.once("close", resolve));
    await attachment.update({ allow_out: ["plain.example.test"], deny_out: [] });
    await closed;
    expect(attachment.drainAttempts()).toContainEqual({
      host: "files.example.test",
      port: 443,
      allowed: false,
      reason: "closed after the policy changed: files.example.test:443 is not in allow_out",
    });
    await expect(attachment.update({ allow_out: ["example.org"], deny_out: [] })).rejects.toSatisfy((error) =>
      InvalidRequestError.isInstance(error),
    );
    // The tightened policy still lets plain.example.test through.
    expect((await proxiedHttp(socketPath, "http://plain.example.test/hello")).status).toBe(200);
  });

  it("checks a destination resolved while the policy was replaced against the new policy", async () => {
    slowAnswer = gate();
    const { attachment, socketPath } = await open(["slow.example.test", "plain.example.test"]);
    const pending = connectThrough(socketPath, "slow.example.test:443");
    await eventually(() => slowAsked);
    await attachment.update({ allow_out: ["plain.example.test"], deny_out: [] });
    slowAnswer.resolve();
    expect(await pending).toEqual({ status: 403, body: "egress denied: slow.example.test:443 is not in allow_out\n" });
  });

  it("refuses a connection over the sandbox's connection bound, with a reason", async () => {
    const { socketPath } = await open(["*.example.test"], { on: bounded });
    const first = await connectThrough(socketPath, "files.example.test:443");
    const second = await connectThrough(socketPath, "files.example.test:443");
    const third = await connectThrough(socketPath, "files.example.test:443");
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(third).toEqual({
      status: 403,
      body: "egress denied: files.example.test:443 refused: the sandbox has more than 2 egress connections open\n",
    });
    // Once one closes, there is room again.
    if ("socket" in first) first.socket.destroy();
    let fourth = await connectThrough(socketPath, "files.example.test:443");
    for (let tries = 0; fourth.status !== 200 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      fourth = await connectThrough(socketPath, "files.example.test:443");
    }
    expect(fourth.status).toBe(200);
    for (const result of [second, fourth]) if ("socket" in result) result.socket.destroy();
  });

  it("slows a tunnel down to the sandbox's bytes per second, and delivers every byte", async () => {
    const { socketPath, bundle } = await open(["*.example.test"], { on: bounded });
    const started = Date.now();
    const tls = await startTls(await tunnelThrough(socketPath, "files.example.test:443"), "files.example.test", bundle);
    const slowed = await httpsGet(tls, "files.example.test", "/bytes?size=250000");
    tls.destroy();
    // 200,000 bytes a second with a second's burst: the last 50,000 bytes wait at least a quarter second.
    expect(slowed.body.length).toBe(250_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it("closes a sandbox's connections past its byte bound, and refuses new ones", async () => {
    const { attachment, socketPath } = await open(["*.example.test"], { on: bounded });
    expect((await proxiedHttp(socketPath, "http://plain.example.test/bytes?size=250000")).body.length).toBe(250_000);
    await expect(proxiedHttp(socketPath, "http://plain.example.test/bytes?size=100000")).rejects.toThrow();
    const refused = await proxiedHttp(socketPath, "http://plain.example.test/hello");
    expect(refused.status).toBe(403);
    expect(refused.body).toBe("egress denied: plain.example.test:80 refused: the sandbox used up its egress byte bound (300000 bytes)\n");
    expect(attachment.drainAttempts().map((attempt) => attempt.reason)).toContain(
      "closed: the sandbox went over its egress byte bound (300000 bytes)",
    );
  });
});

describe("open", () => {
  it("refuses a policy outside the operator's bounds, a malformed entry and an unknown secret, leaving nothing behind", async () => {
    const request = (policy: { allow_out: string[]; deny_out: string[] }, secrets: string[] = []) =>
      gateway.open({ sandboxName: "code-exec-refused", policy, secrets });
    await expect(request({ allow_out: ["example.org"], deny_out: [] })).rejects.toThrow(
      'network.allow_out: "example.org" is outside what the operator allows',
    );
    await expect(request({ allow_out: ["*"], deny_out: [] })).rejects.toThrow('"*" is outside what the operator allows');
    await expect(request({ allow_out: ["bad host!"], deny_out: [] })).rejects.toThrow(InvalidRequestError);
    await expect(request({ allow_out: ["10.0.0.0/33"], deny_out: [] })).rejects.toThrow(
      '"10.0.0.0/33" is not a valid IP address or CIDR network',
    );
    await expect(request({ allow_out: ["files.example.test"], deny_out: [] }, ["nope"])).rejects.toThrow('secrets: unknown secret "nope"');
    // A secret offered to other tenants only is as unknown as one that does not exist.
    await expect(request({ allow_out: ["files.example.test"], deny_out: [] }, ["tenant-b-only"])).rejects.toThrow(
      'secrets: unknown secret "tenant-b-only"',
    );
    expect(existsSync(join(String(gateway.stateDirectory), "code-exec-refused"))).toBe(false);
  });
});

describe("close", () => {
  it("removes the directory and the socket, ends open tunnels, and can be called twice", async () => {
    const { attachment, socketPath } = await open(["*.example.test"]);
    const upstreamSockets = upstreams.openSockets.size;
    const tunnel = await tunnelThrough(socketPath, "files.example.test:443");
    await eventually(() => upstreams.openSockets.size === upstreamSockets + 1);
    const ended = new Promise((resolve) => tunnel.once("close", resolve));
    tunnel.resume();
    await attachment.close();
    await attachment.close();
    await ended;
    expect(existsSync(attachment.hostDirectory ?? "")).toBe(false);
    await expect(
      new Promise((resolve, reject) => netConnect(socketPath).once("connect", resolve).once("error", reject)),
    ).rejects.toMatchObject({ code: "ENOENT" });
    await eventually(() => upstreams.openSockets.size === upstreamSockets);
  });

  it("makes its CA and its own state directory on the first open only, once, and close removes the directory", async () => {
    // A temporary directory of this test's own stands for the system's, so nothing else's files are counted.
    const systemTemporary = process.env.TMPDIR;
    const temporary = mkdtempSync(join(tmpdir(), "ci-egress-tmpdir-"));
    process.env.TMPDIR = temporary;
    try {
      const own = await createEgressGateway({});
      // A server that never sees a request with `network` makes nothing.
      expect(own.caCertificate).toBeUndefined();
      expect(own.stateDirectory).toBeUndefined();
      expect(readdirSync(temporary)).toEqual([]);
      const policy = { allow_out: ["example.org"], deny_out: [] };
      const [first, second] = await Promise.all([
        own.open({ sandboxName: "code-exec-own-1", policy, secrets: [] }),
        own.open({ sandboxName: "code-exec-own-2", policy, secrets: [] }),
      ]);
      expect(readdirSync(temporary)).toHaveLength(1);
      // One CA per gateway, whoever asked first.
      const caCertificate = String(own.caCertificate).trim();
      expect(caCertificate).toContain("-----BEGIN CERTIFICATE-----");
      for (const attachment of [first, second]) {
        expect(readFileSync(join(attachment.hostDirectory ?? "", EGRESS_CA_BUNDLE_NAME), "utf8")).toContain(caCertificate);
      }
      await own.close();
      expect(readdirSync(temporary)).toEqual([]);

      const unused = await createEgressGateway({});
      await unused.close();
      expect(readdirSync(temporary)).toEqual([]);
      await expect(unused.open({ sandboxName: "code-exec-late", policy, secrets: [] })).rejects.toThrow("closed");
    } finally {
      if (systemTemporary === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = systemTemporary;
      rmSync(temporary, { recursive: true, force: true });
    }
  });
});
