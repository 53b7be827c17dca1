import { Duplex } from "node:stream";
import { connect } from "node:tls";
import { describe, expect, it } from "vitest";
import { peekClientHello } from "./client-hello.js";

/** The first TLS record Node's own client sends (no network: it writes into a stream). */
async function realClientHello(servername: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const wire = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  const tls = connect({ socket: wire, servername, rejectUnauthorized: false });
  tls.on("error", () => {});
  while (chunks.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  tls.destroy();
  return Buffer.concat(chunks);
}

const u16 = (value: number) => Buffer.from([value >> 8, value & 0xff]);
const vector16 = (body: Buffer) => Buffer.concat([u16(body.length), body]);
const extension = (type: number, body: Buffer) => Buffer.concat([u16(type), vector16(body)]);
const serverNameEntry = (name: string, type = 0) => Buffer.concat([Buffer.from([type]), vector16(Buffer.from(name, "latin1"))]);
const serverNames = (...entries: Buffer[]) => extension(0, vector16(Buffer.concat(entries)));

/** A ClientHello record built by hand, for the shapes a real client never sends. */
function clientHello(extensions: Buffer[] | undefined, options: { handshakeLengthDelta?: number; recordVersion?: number } = {}): Buffer {
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    vector16(Buffer.from([0x13, 0x01])),
    Buffer.from([1, 0]),
    ...(extensions === undefined ? [] : [vector16(Buffer.concat(extensions))]),
  ]);
  const length = body.length + (options.handshakeLengthDelta ?? 0);
  const handshake = Buffer.concat([Buffer.from([1, length >> 16, (length >> 8) & 0xff, length & 0xff]), body]);
  return Buffer.concat([Buffer.from([0x16, options.recordVersion ?? 3, 1]), u16(handshake.length), handshake]);
}

describe("peekClientHello", () => {
  it("reads the server name from the ClientHello Node's TLS client sends", async () => {
    const hello = await realClientHello("files.example.test");
    expect(peekClientHello(hello)).toEqual({ kind: "client-hello", serverName: "files.example.test" });
  });

  it("waits for the rest of a record that has only partly arrived", async () => {
    const hello = await realClientHello("files.example.test");
    for (const length of [1, 4, 5, 40, hello.length - 1])
      expect(peekClientHello(hello.subarray(0, length))).toEqual({ kind: "incomplete" });
  });

  it("lets what is not TLS through as such", () => {
    expect(peekClientHello(Buffer.from("SSH-2.0-OpenSSH_9.2\r\n"))).toEqual({ kind: "not-tls" });
  });

  it.each([
    ["no extensions", clientHello(undefined), undefined],
    ["extensions without a server name", clientHello([extension(10, Buffer.from([0, 2, 0, 29]))]), undefined],
    ["a server name in upper case", clientHello([serverNames(serverNameEntry("API.Example.Test"))]), "api.example.test"],
  ])("reads a ClientHello with %s", (_name, bytes, serverName) => {
    expect(peekClientHello(bytes)).toEqual({ kind: "client-hello", serverName });
  });

  it.each([
    ["a record version other than 3", clientHello([], { recordVersion: 2 })],
    ["a handshake longer than its record", clientHello([], { handshakeLengthDelta: 10 })],
    ["a handshake shorter than its record", clientHello([], { handshakeLengthDelta: -1 })],
    ["the server name extension twice", clientHello([serverNames(serverNameEntry("a.test")), serverNames(serverNameEntry("b.test"))])],
    ["two host names in one extension", clientHello([serverNames(serverNameEntry("a.test"), serverNameEntry("b.test"))])],
    ["an empty server name list", clientHello([serverNames()])],
    ["a server name that is not a host name", clientHello([serverNames(serverNameEntry("a.test\u0000b.test"))])],
    ["a handshake that is not a ClientHello", Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])],
  ])("refuses a ClientHello with %s", (_name, bytes) => {
    // A record cut short reads as incomplete until its stated length arrives; fix the length so it is judged whole.
    const whole = Buffer.from(bytes);
    whole.writeUInt16BE(whole.length - 5, 3);
    expect(peekClientHello(whole).kind).toBe("malformed");
  });

  it("refuses a record length over the TLS maximum", () => {
    expect(peekClientHello(Buffer.from([0x16, 3, 1, 0x40, 0x01]))).toEqual({
      kind: "malformed",
      reason: "the TLS record length is out of range",
    });
  });
});
