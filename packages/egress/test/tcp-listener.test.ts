import { connect as netConnect, type Socket } from "node:net";
import type { EgressAttachment } from "@code-interpreter/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEgressGateway, type EgressProxy, EgressSettingsError } from "../src/index.js";
import { eventually, startUpstreams, type Upstreams } from "./support.js";

// The gateway's TCP listener (kubernetes pods cannot be given a socket): a connection presents its
// attachment's token on its first line, then is that attachment's, exactly as on its socket.

let upstreams: Upstreams;
let gateway: EgressProxy;
let count = 0;

beforeAll(async () => {
  upstreams = await startUpstreams();
  gateway = await createEgressGateway({
    allowOut: ["*.example.test"],
    hosts: {
      "plain.example.test": { address: "127.0.0.1", port: upstreams.httpPort },
      "other.example.test": { address: "127.0.0.1", port: upstreams.httpPort },
    },
    upstreamCa: upstreams.testCa,
    listen: { host: "127.0.0.1", port: 0 },
  });
});

afterAll(async () => {
  await gateway?.close();
  await upstreams?.close();
});

function open(allowOut: string[]): Promise<EgressAttachment> {
  return gateway.open({ sandboxName: `code-exec-tcp-${++count}`, policy: { allow_out: allowOut, deny_out: [] }, secrets: [] });
}

/** Connects to the listener, sends `preamble` then a proxied GET; resolves to everything read until the connection closes. */
function exchange(preamble: string, host: string, options: { keepOpen?: (socket: Socket) => void } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port: gateway.tcp?.port ?? 0 });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => resolve(Buffer.concat(chunks).toString()));
    const close = options.keepOpen ? "keep-alive" : "close";
    socket.write(`${preamble}GET http://${host}/hello HTTP/1.1\r\nHost: ${host}\r\nConnection: ${close}\r\n\r\n`);
    options.keepOpen?.(socket);
  });
}

describe("the egress gateway's TCP listener", () => {
  it("gives each attachment its own token, the advertised address and the proxy's CA", async () => {
    const [first, second] = await Promise.all([open(["plain.example.test"]), open(["plain.example.test"])]);
    expect(first?.tcp).toMatchObject({ host: "127.0.0.1", port: gateway.tcp?.port });
    expect(first?.tcp?.token).toMatch(/^[0-9a-f]{64}$/);
    expect(first?.tcp?.token).not.toBe(second?.tcp?.token);
    // The operator's upstream CAs and the proxy's: what a pod adds to its image's CAs.
    expect(first?.caCertificate).toBe(`${upstreams.testCa.trim()}\n${gateway.caCertificate?.trim()}\n`);
    expect(first?.caCertificate).not.toContain("PRIVATE KEY");
    await Promise.all([first?.close(), second?.close()]);
  });

  it("handles a connection with a token as that attachment's: its policy, its attempts", async () => {
    const attachment = await open(["plain.example.test"]);
    const allowed = await exchange(`${attachment.tcp?.token}\n`, "plain.example.test");
    expect(allowed).toMatch(/^HTTP\/1.1 200/);
    expect(allowed).toContain("hello from plain.example.test");
    const denied = await exchange(`${attachment.tcp?.token}\n`, "other.example.test");
    expect(denied).toMatch(/^HTTP\/1.1 403/);
    expect(denied).toContain("egress denied: other.example.test:80 is not in allow_out");
    expect(attachment.drainAttempts()).toEqual([
      { host: "plain.example.test", port: 80, allowed: true },
      { host: "other.example.test", port: 80, allowed: false, reason: "other.example.test:80 is not in allow_out" },
    ]);
    await attachment.close();
  });

  it("closes a connection with a wrong, absent or closed attachment's token at once, and counts it", async () => {
    const attachment = await open(["plain.example.test"]);
    const before = gateway.refusedConnections;
    expect(await exchange(`${"0".repeat(64)}\n`, "plain.example.test")).toBe("");
    // No newline within the preamble's length: the request line itself is not a token.
    expect(await exchange("", "plain.example.test")).toBe("");
    const token = attachment.tcp?.token;
    await attachment.close();
    expect(await exchange(`${token}\n`, "plain.example.test")).toBe("");
    expect(gateway.refusedConnections).toBe(before + 3);
    expect(upstreams.seen.filter((seen) => seen.host === "plain.example.test")).toHaveLength(1);
  });

  it("closes an attachment's open connections when it closes", async () => {
    const attachment = await open(["plain.example.test"]);
    let socket: Socket | undefined;
    const answer = exchange(`${attachment.tcp?.token}\n`, "plain.example.test", { keepOpen: (open) => (socket = open) });
    await eventually(() => (socket?.bytesRead ?? 0) > 0);
    await attachment.close();
    expect(await answer).toMatch(/^HTTP\/1.1 200/);
  });

  it("refuses a listen address sandboxes cannot be told to reach", async () => {
    await expect(createEgressGateway({ listen: { host: "0.0.0.0", port: 0 } })).rejects.toThrow(EgressSettingsError);
    await expect(createEgressGateway({ advertise: { host: "10.0.0.1" } })).rejects.toThrow(/needs listen/);
  });
});
