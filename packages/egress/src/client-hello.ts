// Reads the server name (SNI) from the first TLS record a client sends, to
// check it against the CONNECT host before a tunnel is opened. Strict: anything
// that starts like TLS but does not parse as one whole ClientHello in one record
// is refused, so a client cannot slip a name past the check.

/** What the first bytes of a tunnel are. */
export type ClientHelloPeek =
  | { kind: "incomplete" }
  | { kind: "not-tls" }
  | { kind: "malformed"; reason: string }
  | { kind: "client-hello"; serverName: string | undefined };

const RECORD_HEADER = 5;
const HANDSHAKE = 0x16;
const CLIENT_HELLO = 1;
const SERVER_NAME_EXTENSION = 0;
const HOST_NAME = 0;
/** The largest TLS plaintext record (RFC 8446 5.1). */
export const MAX_RECORD = 16_384;

class Reader {
  offset = 0;
  constructor(private readonly bytes: Buffer) {}
  get remaining(): number {
    return this.bytes.length - this.offset;
  }
  take(length: number): Buffer {
    if (length > this.remaining) throw new MalformedError("a length runs past the end of the ClientHello");
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
  uint8(): number {
    return this.take(1).readUInt8(0);
  }
  uint16(): number {
    return this.take(2).readUInt16BE(0);
  }
  uint24(): number {
    return this.take(3).readUIntBE(0, 3);
  }
  /** A vector with a length prefix of `lengthBytes` bytes. */
  vector(lengthBytes: 1 | 2): Reader {
    return new Reader(this.take(lengthBytes === 1 ? this.uint8() : this.uint16()));
  }
}

class MalformedError extends Error {}

/** Looks at the bytes a tunnel's client sent so far. */
export function peekClientHello(bytes: Buffer): ClientHelloPeek {
  if (bytes.length === 0) return { kind: "incomplete" };
  if (bytes[0] !== HANDSHAKE) return { kind: "not-tls" };
  if (bytes.length < RECORD_HEADER) return { kind: "incomplete" };
  if (bytes[1] !== 3) return { kind: "malformed", reason: "the TLS record has an unknown version" };
  const recordLength = bytes.readUInt16BE(3);
  if (recordLength === 0 || recordLength > MAX_RECORD) return { kind: "malformed", reason: "the TLS record length is out of range" };
  if (bytes.length < RECORD_HEADER + recordLength) return { kind: "incomplete" };
  try {
    return { kind: "client-hello", serverName: readServerName(bytes.subarray(RECORD_HEADER, RECORD_HEADER + recordLength)) };
  } catch (error) {
    if (error instanceof MalformedError) return { kind: "malformed", reason: error.message };
    throw error;
  }
}

function readServerName(record: Buffer): string | undefined {
  const handshake = new Reader(record);
  if (handshake.uint8() !== CLIENT_HELLO) throw new MalformedError("the first handshake message is not a ClientHello");
  const length = handshake.uint24();
  if (length !== handshake.remaining) throw new MalformedError("the ClientHello does not fill exactly one TLS record");
  const hello = new Reader(handshake.take(length));
  hello.take(2 + 32); // legacy_version, random
  if (hello.vector(1).remaining > 32) throw new MalformedError("the session id is longer than 32 bytes");
  const cipherSuites = hello.vector(2);
  if (cipherSuites.remaining === 0 || cipherSuites.remaining % 2 !== 0) throw new MalformedError("the cipher suite list is malformed");
  if (hello.vector(1).remaining === 0) throw new MalformedError("the compression method list is empty");
  if (hello.remaining === 0) return undefined;
  const extensions = hello.vector(2);
  if (hello.remaining !== 0) throw new MalformedError("bytes follow the extensions");
  const seen = new Set<number>();
  let serverName: string | undefined;
  while (extensions.remaining > 0) {
    const type = extensions.uint16();
    const data = extensions.vector(2);
    if (seen.has(type)) throw new MalformedError(`extension ${type} appears twice`);
    seen.add(type);
    if (type === SERVER_NAME_EXTENSION) serverName = readServerNameExtension(data);
  }
  return serverName;
}

function readServerNameExtension(data: Reader): string {
  const list = data.vector(2);
  if (data.remaining !== 0) throw new MalformedError("bytes follow the server name list");
  let hostName: string | undefined;
  while (list.remaining > 0) {
    const type = list.uint8();
    const name = list.vector(2);
    if (type !== HOST_NAME) continue;
    if (hostName !== undefined) throw new MalformedError("the server name extension names two hosts");
    const bytes = name.take(name.remaining);
    if (bytes.length === 0 || !/^[a-z0-9._-]+$/i.test(bytes.toString("latin1"))) {
      throw new MalformedError("the server name is not a host name");
    }
    hostName = bytes.toString("latin1").toLowerCase();
  }
  if (hostName === undefined) throw new MalformedError("the server name extension names no host");
  return hostName;
}
