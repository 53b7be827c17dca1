// What the shared egress suites stand on (issue 22): the loopback "internet",
// the real egress proxy in this process, given that internet through its hosts
// map, a resolver the tests control, and a stand-in for the server's own API.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Backend, NetworkPolicy } from "@code-interpreter/core";
import type { SuiteSections } from "@code-interpreter/core/testing";
import { createEgressGateway, type EgressOptions, type EgressProxy } from "@code-interpreter/egress";
import { type LoopbackInternet, startLoopbackInternet } from "../loopback-internet.js";

/** What the suites give `createBackend`: the gateway its sandboxes must reach the outside through. */
export interface EgressSuiteSettings {
  /** The egress proxy, running in this process (core's SandboxSettings.egress). */
  egress: EgressProxy;
}

/** Options of describeEgressContract and describeEgressHostile. */
export interface EgressSuiteOptions {
  /** Name shown in the test report. */
  name: string;
  /** Builds the backend under test with the suite's gateway (`egress`), made once per suite. */
  createBackend: (settings: EgressSuiteSettings) => Promise<Backend> | Backend;
  /** Sandboxes (containers, pods, processes, session directories) of this service still present. */
  listLeftovers: () => Promise<string[]>;
  /**
   * Added to the suite's gateway options (e.g. a TCP listener where sandboxes
   * cannot be given a Unix socket). The suite's hosts map, resolver, secrets
   * and bounds stay unless these replace them.
   */
  gatewayOptions?: Partial<EgressOptions>;
  /**
   * Controls this backend cannot enforce, by test name, with the reason. Such a
   * test runs as an expected failure titled with the reason: it fails the run
   * if the control starts to hold, so the entry is removed.
   */
  gaps?: Readonly<Record<string, string>>;
  /** The sections to run, the rest skipped with the reason. @default all */
  sections?: SuiteSections;
}

/** The secret both suites configure: made up per run, it is what the sandbox must never see. */
export const EGRESS_SECRET_NAME = "files-token";

/**
 * Names the proxy's hosts map gives the loopback internet (EGRESS_HOSTS): what
 * a sandbox asks for, and where the proxy really connects.
 */
export const EGRESS_TEST_HOSTS = {
  /** The HTTPS server: /data.csv, /bytes?size=N, /headers, /redirect?to=URL. */
  files: "files.example.test",
  /** The plain-HTTP server (same paths). */
  web: "web.example.test",
  /** The PEP 503 index (HTTPS). */
  pypi: "pypi.example.test",
  /** The npm registry (plain HTTP). */
  npm: "npm.example.test",
  /** The HTTPS server again, under a name the tests never allow. */
  denied: "denied.example.test",
  /** The stand-in for the server's own API (the gateway's serverAddresses). */
  api: "api.example.test",
} as const;

/**
 * The tests' DNS (the gateway's `resolve`): names that resolve to addresses a
 * sandbox must never reach. Any other name not in the hosts map is unknown.
 */
export const EGRESS_TEST_DNS: Readonly<Record<string, readonly string[]>> = {
  "rebind.example.test": ["127.0.0.1"],
  "metadata.example.test": ["169.254.169.254"],
  // A cluster's API service address, as cluster DNS would answer it.
  "kubernetes.default.svc": ["10.96.0.1"],
};

/** A running fixture: close() stops the gateway, the stand-in and the internet. */
export interface EgressFixture {
  internet: LoopbackInternet;
  gateway: EgressProxy;
  secret: string;
  /** Requests the stand-in for the server's API received (it must receive none). */
  apiRequests: string[];
  apiPort: number;
  close(): Promise<void>;
}

/** Starts the loopback internet, the stand-in server and a gateway over them with `options` on top. */
export async function startEgressFixture(options: Partial<EgressOptions> = {}): Promise<EgressFixture> {
  const secret = `sk-loopback-${Math.random().toString(36).slice(2)}${Date.now()}`;
  const internet = await startLoopbackInternet();
  const apiRequests: string[] = [];
  const api = createServer((request, response) => {
    apiRequests.push(`${request.method} ${request.url}`);
    response.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  const apiPort = (api.address() as AddressInfo).port;
  const loopback = (port: number) => ({ address: "127.0.0.1", port });
  let gateway: EgressProxy;
  try {
    gateway = await createEgressGateway({
      hosts: {
        [EGRESS_TEST_HOSTS.files]: loopback(internet.https.port),
        [EGRESS_TEST_HOSTS.web]: loopback(internet.http.port),
        [EGRESS_TEST_HOSTS.pypi]: loopback(internet.index.port),
        [EGRESS_TEST_HOSTS.npm]: loopback(internet.npm.port),
        [EGRESS_TEST_HOSTS.denied]: loopback(internet.https.port),
        [EGRESS_TEST_HOSTS.api]: loopback(apiPort),
      },
      upstreamCa: internet.caCertificate,
      serverAddresses: [`127.0.0.1:${apiPort}`],
      secrets: { [EGRESS_SECRET_NAME]: { value: secret, hosts: [EGRESS_TEST_HOSTS.files], format: "Bearer {value}" } },
      // No real DNS here: the tests' answers, and every other name unknown at once.
      resolve: async (host) => {
        const addresses = EGRESS_TEST_DNS[host];
        if (addresses) return [...addresses];
        throw Object.assign(new Error(`${host} is not in the tests' DNS`), { code: "ENOTFOUND" });
      },
      ...options,
    });
  } catch (error) {
    await Promise.all([closeServer(api), internet.close()]);
    throw error;
  }
  return {
    internet,
    gateway,
    secret,
    apiRequests,
    apiPort,
    close: async () => {
      await gateway.close();
      await Promise.all([closeServer(api), internet.close()]);
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A policy allowing exactly these names. */
export function allowing(...names: string[]): NetworkPolicy {
  return { allow_out: names, deny_out: [] };
}

/**
 * Python the tests' code starts with: `proxy_open(first_line, host)` sends a
 * request head straight to the sandbox's proxy (found from HTTPS_PROXY, with
 * its credentials when the URL has them) and returns the socket;
 * `read_head(sock)` the status line and what followed the head;
 * `read_all(sock)` everything up to the close, within a bound.
 */
export const PYTHON_PROXY_HELPERS = String.raw`
import base64, json, os, socket, ssl, time, urllib.parse, urllib.request, urllib.error

def proxy_open(first_line, host):
    url = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
    head = "%s\r\nHost: %s\r\n" % (first_line, host)
    if url.username is not None:
        credentials = "%s:%s" % (urllib.parse.unquote(url.username), urllib.parse.unquote(url.password or ""))
        head += "Proxy-Authorization: Basic %s\r\n" % base64.b64encode(credentials.encode()).decode()
    sock = socket.create_connection((url.hostname, url.port or 80), timeout=10)
    sock.sendall((head + "\r\n").encode())
    return sock

def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(errors="replace"), rest

def read_all(sock, rest=b""):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        rest += chunk
    sock.close()
    return rest.decode(errors="replace")

def refused_with(first_line, host):
    """The proxy's status line and body for a request it should refuse."""
    sock = proxy_open(first_line, host)
    status, rest = read_head(sock)
    return {"status": status, "body": read_all(sock, rest)}

def error_name(error):
    number = getattr(error, "errno", None)
    import errno as errno_names
    return errno_names.errorcode.get(number, type(error).__name__) if number else type(error).__name__
`;
