// The tests' "internet" (issue 22): there is none on these machines, so the
// egress tests bring their own on loopback: an HTTP and an HTTPS server (a CA
// made at start), a redirect, a PEP 503 package index serving one wheel and a
// minimal npm registry serving one tarball, both made at start. The egress
// proxy reaches them through its hosts map (EGRESS_HOSTS / `hosts`).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A request one of the servers received, headers as Node gives them (lower-case names). */
export interface RecordedRequest {
  server: "http" | "https" | "index" | "npm";
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
}

/** One of the servers, on 127.0.0.1. */
export interface LoopbackServer {
  port: number;
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  url: string;
}

/** The running fixtures; `close` stops them and removes what they made. */
export interface LoopbackInternet {
  /**
   * HTTP and HTTPS: `GET /data.csv` (DATA_CSV), `/bytes?size=N` (N bytes of "x"),
   * `/headers` (the request's headers as JSON), `/redirect?to=URL` (302 to URL); else 404.
   */
  http: LoopbackServer;
  https: LoopbackServer;
  /** A PEP 503 simple index over HTTPS: `/simple/`, `/simple/<name>/`, `/packages/<wheel>`. */
  index: LoopbackServer;
  /** An npm registry over HTTP: `/<name>` (its document; tarball URLs on the Host asked for), `/<name>/-/<tarball>`. */
  npm: LoopbackServer;
  /** The test CA (PEM) that signed the HTTPS servers' certificate: give it to the proxy as `upstreamCa`. */
  caCertificate: string;
  /** The CA's file, for a client run directly against the fixtures (`pip --cert`, `curl --cacert`). */
  caFile: string;
  /** The Python package the index serves (import name `ci_loopback_hello`, its GREETING). */
  pythonPackage: { name: string; version: string; greeting: string };
  /** The npm package the registry serves (`require(name).greeting`). */
  npmPackage: { name: string; version: string; greeting: string };
  /** Every request, in order of arrival. */
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** What `GET /data.csv` answers. */
export const DATA_CSV = "city,population\nLisbon,545923\nPorto,231800\n";

/** Names the HTTPS certificate is valid for (besides 127.0.0.1 and localhost). */
export const LOOPBACK_CERTIFICATE_NAMES = ["*.example.test", "example.test"];

const PYTHON_PACKAGE = { name: "ci-loopback-hello", version: "1.0.0", greeting: "hello from the loopback index" };
const NPM_PACKAGE = { name: "ci-loopback-hello", version: "1.0.0", greeting: "hello from the loopback registry" };

/**
 * Starts the loopback "internet" on ephemeral 127.0.0.1 ports. Needs
 * `openssl` (the test CA), `python3` (the wheel) and `tar` (the npm tarball).
 */
export async function startLoopbackInternet(): Promise<LoopbackInternet> {
  const dir = mkdtempSync(join(tmpdir(), "ci-loopback-internet-"));
  const servers: Server[] = [];
  try {
    const tls = makeCertificates(dir);
    const wheel = buildWheel(dir);
    const tarball = buildNpmTarball(dir);
    const requests: RecordedRequest[] = [];
    const record = (server: RecordedRequest["server"], request: IncomingMessage) =>
      requests.push({ server, method: request.method ?? "", url: request.url ?? "", headers: request.headers });

    const web = (server: "http" | "https") => (request: IncomingMessage, response: ServerResponse) => {
      record(server, request);
      answerWeb(request, response);
    };
    const http = await listen(createHttpServer(web("http")), servers, "http");
    const https = await listen(createHttpsServer({ key: tls.key, cert: tls.certificate }, web("https")), servers, "https");
    const index = await listen(
      createHttpsServer({ key: tls.key, cert: tls.certificate }, (request, response) => {
        record("index", request);
        answerIndex(request, response, wheel);
      }),
      servers,
      "https",
    );
    const npm = await listen(
      createHttpServer((request, response) => {
        record("npm", request);
        answerNpm(request, response, tarball);
      }),
      servers,
      "http",
    );
    return {
      http,
      https,
      index,
      npm,
      caCertificate: tls.caCertificate,
      caFile: tls.caFile,
      pythonPackage: PYTHON_PACKAGE,
      npmPackage: NPM_PACKAGE,
      requests,
      close: async () => {
        await Promise.all(servers.map(closeServer));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(servers.map(closeServer));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function listen(server: Server, servers: Server[], scheme: "http" | "https"): Promise<LoopbackServer> {
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ port, url: `${scheme}://127.0.0.1:${port}` });
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function send(response: ServerResponse, status: number, body: string | Buffer, type = "text/plain; charset=utf-8"): void {
  response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  response.end(body);
}

function answerWeb(request: IncomingMessage, response: ServerResponse) {
  const url = new URL(request.url ?? "/", "http://fixture");
  if (url.pathname === "/data.csv") return send(response, 200, DATA_CSV, "text/csv");
  if (url.pathname === "/bytes") {
    const size = Math.min(Number(url.searchParams.get("size") ?? "0") || 0, 64 * 1024 * 1024);
    return send(response, 200, Buffer.alloc(size, "x"), "application/octet-stream");
  }
  if (url.pathname === "/headers") return send(response, 200, JSON.stringify(request.headers), "application/json");
  if (url.pathname === "/redirect") {
    response.writeHead(302, { location: url.searchParams.get("to") ?? "/", "content-length": 0 });
    return void response.end();
  }
  send(response, 404, "not found\n");
}

/** The wheel and its sha256, for the index's links. */
interface Wheel {
  file: string;
  bytes: Buffer;
  sha256: string;
}

function answerIndex(request: IncomingMessage, response: ServerResponse, wheel: Wheel) {
  const path = new URL(request.url ?? "/", "http://fixture").pathname;
  const html = (body: string) => send(response, 200, `<!DOCTYPE html>\n<html><body>\n${body}\n</body></html>\n`, "text/html");
  if (path === "/simple/") return html(`<a href="/simple/${PYTHON_PACKAGE.name}/">${PYTHON_PACKAGE.name}</a>`);
  if (path === `/simple/${PYTHON_PACKAGE.name}/`) return html(`<a href="/packages/${wheel.file}#sha256=${wheel.sha256}">${wheel.file}</a>`);
  if (path === `/packages/${wheel.file}`) return send(response, 200, wheel.bytes, "application/octet-stream");
  send(response, 404, "not found\n");
}

/** The npm tarball and its hashes. */
interface Tarball {
  file: string;
  bytes: Buffer;
}

function answerNpm(request: IncomingMessage, response: ServerResponse, tarball: Tarball) {
  const path = new URL(request.url ?? "/", "http://fixture").pathname;
  const { name, version } = NPM_PACKAGE;
  if (path === `/${name}`) {
    // Tarball URLs name the host the client asked for: through the proxy, the name the proxy maps.
    const base = `http://${request.headers.host ?? "127.0.0.1"}`;
    const document = {
      name,
      "dist-tags": { latest: version },
      versions: {
        [version]: {
          name,
          version,
          main: "index.js",
          dist: {
            tarball: `${base}/${name}/-/${tarball.file}`,
            shasum: createHash("sha1").update(tarball.bytes).digest("hex"),
            integrity: `sha512-${createHash("sha512").update(tarball.bytes).digest("base64")}`,
          },
        },
      },
    };
    return send(response, 200, JSON.stringify(document), "application/json");
  }
  if (path === `/${name}/-/${tarball.file}`) return send(response, 200, tarball.bytes, "application/octet-stream");
  send(response, 404, JSON.stringify({ error: "not found" }), "application/json");
}

/** A test CA, and a certificate it signed for LOOPBACK_CERTIFICATE_NAMES, localhost and 127.0.0.1. */
function makeCertificates(dir: string): { caCertificate: string; caFile: string; certificate: string; key: string } {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=code-interpreter loopback test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
  );
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=example.test", "-keyout", file("server.key"), "-out", file("server.csr"));
  const names = [...LOOPBACK_CERTIFICATE_NAMES, "localhost"].map((name) => `DNS:${name}`);
  writeFileSync(
    file("server.ext"),
    `subjectAltName=${[...names, "IP:127.0.0.1"].join(",")}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
  );
  openssl(
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    file("server.ext"),
    "-out",
    file("server.pem"),
  );
  rmSync(file("ca.key"));
  return {
    caCertificate: readFileSync(file("ca.pem"), "utf8"),
    caFile: file("ca.pem"),
    certificate: readFileSync(file("server.pem"), "utf8"),
    key: readFileSync(file("server.key"), "utf8"),
  };
}

/** Builds PYTHON_PACKAGE's wheel (a zip: the module, METADATA, WHEEL, RECORD) with Python's zipfile. */
function buildWheel(dir: string): Wheel {
  const { name, version, greeting } = PYTHON_PACKAGE;
  const module = name.replaceAll("-", "_");
  const file = `${module}-${version}-py3-none-any.whl`;
  const script = `
import base64, hashlib, sys, zipfile
path, module, name, version, greeting = sys.argv[1:]
dist = "%s-%s.dist-info" % (module, version)
files = {
    module + "/__init__.py": "GREETING = %r\\n" % greeting,
    dist + "/METADATA": "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\nSummary: the loopback index's test package\\n" % (name, version),
    dist + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: code-interpreter-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
    for member, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (member, digest, len(data)))
        wheel.writestr(member, data)
    record.append(dist + "/RECORD,,")
    wheel.writestr(dist + "/RECORD", "\\n".join(record) + "\\n")
`;
  const path = join(dir, file);
  execFileSync("python3", ["-I", "-c", script, path, module, name, version, greeting], { stdio: ["ignore", "ignore", "pipe"] });
  const bytes = readFileSync(path);
  return { file, bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** Builds NPM_PACKAGE's tarball (`package/package.json`, `package/index.js`) with tar. */
function buildNpmTarball(dir: string): Tarball {
  const { name, version, greeting } = NPM_PACKAGE;
  const packageDir = join(dir, "npm", "package");
  mkdirSync(packageDir, { recursive: true });
  writeFileSync(join(packageDir, "package.json"), `${JSON.stringify({ name, version, main: "index.js", license: "MIT" }, null, 2)}\n`);
  writeFileSync(join(packageDir, "index.js"), `exports.greeting = ${JSON.stringify(greeting)};\n`);
  const file = `${name}-${version}.tgz`;
  execFileSync("tar", ["-czf", join(dir, file), "--owner=0", "--group=0", "-C", join(dir, "npm"), "package"]);
  return { file, bytes: readFileSync(join(dir, file)) };
}
