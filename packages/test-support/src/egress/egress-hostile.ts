import type { Backend, ExecutionResult, NetworkPolicy } from "@code-interpreter/core";
import { describeSection, unknownSections } from "@code-interpreter/core/testing";
import { afterAll, beforeAll, describe, expect } from "vitest";
import {
  allowing,
  EGRESS_SECRET_NAME,
  type EgressFixture,
  type EgressSuiteOptions,
  EGRESS_TEST_HOSTS as HOSTS,
  PYTHON_PROXY_HELPERS,
  startEgressFixture,
} from "./egress-fixture.js";
import { egressTest, expectNothingLeft } from "./egress-harness.js";

/** The bounds the hostile suite's gateway sets per sandbox (EGRESS_MAX_CONNECTIONS, EGRESS_MAX_BYTES). */
export const EGRESS_HOSTILE_BOUNDS = { maxConnections: 4, maxBytes: 1_000_000 } as const;

/** Outcomes of socket operations that mean the code got through (or was left hanging). */
const GOT_THROUGH = ["open", "answered", "sent", "TimeoutError", "timeout"];

/**
 * Code with `network` trying to get past the egress proxy from inside a real
 * sandbox of the backend: `describeEgressHostile({ name, createBackend,
 * listLeftovers })`. Each attempt must fail at once with a reason (a refused
 * connection, or the proxy's 403 naming the rule, and a line in the answer's
 * `network`), nothing hanging. Sections: `sockets and DNS`, `names and
 * addresses`, `the server and its platform`, `bounds`, `the proxy's key`.
 *
 * Names that resolve to loopback or the metadata address come from a
 * resolver the suite gives the gateway (`resolve`, EGRESS_TEST_DNS), not from
 * its hosts map: the hosts map is the operator allowing an address.
 */
export function describeEgressHostile(options: EgressSuiteOptions): void {
  describe(`${options.name} backend egress against hostile code`, { timeout: 90_000 }, () => {
    const used = new Set<string>();
    const testsUsed = new Set<string>();
    const section = describeSection(options.sections, used);
    let fixture: EgressFixture;
    let backend: Backend;
    const test = egressTest(options, testsUsed);
    /** Python (with the proxy helpers) in a fresh sandbox with `network`; bounded, and never timed out. */
    const python = async (code: string, network: NetworkPolicy, secrets: string[] = []): Promise<ExecutionResult> => {
      const result = await backend.execute({
        code: `${PYTHON_PROXY_HELPERS}\n${code}`,
        timeoutMs: 45_000,
        lastLineInteractive: false,
        files: [],
        network,
        secrets,
      });
      expect(result.timedOut).toBe(false);
      return result;
    };
    /** The JSON the code printed last. */
    const printed = (result: ExecutionResult) => {
      if (result.exitCode !== 0) throw new Error(`the test's code failed (${result.exitCode}): ${result.stderr}`);
      return JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "null");
    };

    beforeAll(async () => {
      fixture = await startEgressFixture({ ...EGRESS_HOSTILE_BOUNDS, ...options.gatewayOptions });
      backend = await options.createBackend({ egress: fixture.gateway });
    }, 120_000);
    afterAll(async () => {
      await backend?.close();
      await expectNothingLeft(options, fixture?.gateway);
      expect(fixture?.apiRequests ?? []).toEqual([]);
      await fixture?.close();
      expect(unknownSections(options.sections, used)).toEqual([]);
      expect(Object.keys(options.gaps ?? {}).filter((name) => !testsUsed.has(name))).toEqual([]);
    });

    section("sockets and DNS", () => {
      test("fails raw sockets to any address at once, with network allowed", async () => {
        const requestsBefore = fixture.internet.requests.length;
        const result = await python(
          `outcomes = {}
def attempt(label, action):
    try:
        action()
        outcomes[label] = "open"
    except socket.timeout:
        outcomes[label] = "timeout"
    except OSError as error:
        outcomes[label] = error_name(error)
def tcp(family, address):
    def action():
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(address)
    return action
def udp(address):
    def action():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.connect(address)
            sock.send(b"x")
            sock.recv(16)
    return action
attempt("tcp to a public address", tcp(socket.AF_INET, ("1.1.1.1", 443)))
attempt("tcp to the host's loopback servers", tcp(socket.AF_INET, ("127.0.0.1", ${fixture.internet.https.port})))
attempt("tcp to the metadata address", tcp(socket.AF_INET, ("169.254.169.254", 80)))
attempt("tcp over IPv6", tcp(socket.AF_INET6, ("2001:db8::1", 443)))
attempt("udp to a public address", udp(("1.1.1.1", 443)))
attempt("a raw IP socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close())
attempt("a packet socket", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close())
print(json.dumps(outcomes))`,
          allowing("*"),
        );
        const outcomes = printed(result) as Record<string, string>;
        expect(Object.keys(outcomes)).toHaveLength(7);
        for (const [label, outcome] of Object.entries(outcomes)) expect([label, GOT_THROUGH.includes(outcome)]).toEqual([label, false]);
        expect(fixture.internet.requests.length).toBe(requestsBefore);
        // None of it went through the proxy either.
        expect(result.network).toEqual([]);
      });

      test("answers no DNS query: the sandbox has no resolver, and names resolve only in the proxy", async () => {
        const result = await python(
          `outcomes = {}
try:
    socket.getaddrinfo("${HOSTS.files}", 443)
    outcomes["getaddrinfo"] = "answered"
except socket.gaierror as error:
    outcomes["getaddrinfo"] = "failed"
# A query for ${HOSTS.files} (A), to every nameserver the sandbox names and a public one, over UDP and TCP.
query = b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00" + b"".join(bytes([len(part)]) + part.encode() for part in "${HOSTS.files}".split(".")) + b"\\x00\\x00\\x01\\x00\\x01"
servers = ["1.1.1.1", "127.0.0.53", "127.0.0.1"]
try:
    servers += [line.split()[1] for line in open("/etc/resolv.conf") if line.startswith("nameserver")]
except OSError:
    pass
for server in servers:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        label = "%s %s" % ("udp" if kind == socket.SOCK_DGRAM else "tcp", server)
        try:
            with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, kind) as sock:
                sock.settimeout(3)
                sock.connect((server, 53))
                sock.send(query if kind == socket.SOCK_DGRAM else len(query).to_bytes(2, "big") + query)
                outcomes[label] = "answered" if sock.recv(512) else "closed"
        except socket.timeout:
            outcomes[label] = "no answer"
        except OSError as error:
            outcomes[label] = error_name(error)
print(json.dumps(outcomes))`,
          allowing("*"),
        );
        const outcomes = printed(result) as Record<string, string>;
        expect(outcomes.getaddrinfo).toBe("failed");
        for (const [label, outcome] of Object.entries(outcomes)) expect([label, outcome]).not.toEqual([label, "answered"]);
        expect(result.network).toEqual([]);
      });
    });

    section("names and addresses", () => {
      test("refuses CONNECT to a denied host with a 403 naming the host and the rule", async () => {
        const result = await python(
          `print(json.dumps(refused_with("CONNECT ${HOSTS.denied}:443 HTTP/1.1", "${HOSTS.denied}:443")))`,
          allowing(HOSTS.files),
        );
        expect(printed(result)).toEqual({
          status: "HTTP/1.1 403 Forbidden",
          body: `egress denied: ${HOSTS.denied}:443 is not in allow_out\n`,
        });
        expect(result.network).toEqual([
          { host: HOSTS.denied, port: 443, allowed: false, reason: `${HOSTS.denied}:443 is not in allow_out` },
        ]);
      });

      test("refuses a TLS SNI that is not the CONNECT host, and a Host header that is not the URL's", async () => {
        const requestsBefore = fixture.internet.requests.length;
        const result = await python(
          `outcomes = {}
sock = proxy_open("CONNECT ${HOSTS.files}:443 HTTP/1.1", "${HOSTS.files}:443")
outcomes["connect"], _ = read_head(sock)
try:
    # Both names are allowed: what is refused is that they differ.
    tls = ssl.create_default_context().wrap_socket(sock, server_hostname="${HOSTS.web}")
    tls.sendall(b"GET /data.csv HTTP/1.1\\r\\nHost: ${HOSTS.web}\\r\\n\\r\\n")
    outcomes["sni"] = "answered %r" % tls.recv(64)
except (ssl.SSLError, OSError) as error:
    outcomes["sni"] = "refused"
outcomes["host"] = refused_with("GET http://${HOSTS.web}/data.csv HTTP/1.1", "${HOSTS.files}")
print(json.dumps(outcomes))`,
          allowing(HOSTS.files, HOSTS.web),
        );
        const outcomes = printed(result);
        expect(outcomes.connect).toMatch(/^HTTP\/1\.1 200/);
        expect(outcomes.sni).toBe("refused");
        expect(outcomes.host.status).toBe("HTTP/1.1 403 Forbidden");
        expect(outcomes.host.body).toContain(`the Host header "${HOSTS.files}" does not match`);
        expect(result.network).toEqual(
          expect.arrayContaining([
            { host: HOSTS.files, port: 443, allowed: false, reason: `SNI ${HOSTS.web} does not match CONNECT host ${HOSTS.files}` },
            expect.objectContaining({ host: HOSTS.web, port: 80, allowed: false }),
          ]),
        );
        // Neither reached an upstream.
        expect(fixture.internet.requests.length).toBe(requestsBefore);
      });

      test("refuses a redirect to a denied host at its second hop", async () => {
        const result = await python(
          `try:
    urllib.request.urlopen("https://${HOSTS.files}/redirect?to=http://${HOSTS.denied}/data.csv", timeout=30)
    print(json.dumps("followed"))
except urllib.error.HTTPError as error:
    print(json.dumps([error.code, error.read().decode()]))`,
          allowing(HOSTS.files),
        );
        expect(printed(result)).toEqual([403, `egress denied: ${HOSTS.denied}:80 is not in allow_out\n`]);
        expect(result.network).toEqual([
          { host: HOSTS.files, port: 443, allowed: true },
          { host: HOSTS.denied, port: 80, allowed: false, reason: `${HOSTS.denied}:80 is not in allow_out` },
        ]);
        expect(fixture.internet.requests.some((request) => request.headers.host?.startsWith(HOSTS.denied))).toBe(false);
      });

      test("refuses a name that resolves to loopback or the metadata address, and the metadata address itself", async () => {
        const result = await python(
          `outcomes = []
for url in ("http://rebind.example.test/", "https://rebind.example.test/", "http://metadata.example.test/latest/meta-data/", "http://169.254.169.254/latest/meta-data/"):
    try:
        urllib.request.urlopen(url, timeout=30)
        outcomes.append("opened")
    except urllib.error.HTTPError as error:
        outcomes.append([error.code, error.read().decode()])
    except urllib.error.URLError as error:
        outcomes.append(str(error.reason))
print(json.dumps(outcomes))`,
          allowing("*"),
        );
        expect(printed(result)).toEqual([
          [403, "egress denied: rebind.example.test:80 (127.0.0.1) is a loopback address, always denied\n"],
          "Tunnel connection failed: 403 Forbidden",
          [
            403,
            "egress denied: metadata.example.test:80 (169.254.169.254) is a link-local address (cloud metadata lives there), always denied\n",
          ],
          [403, "egress denied: 169.254.169.254:80 is a link-local address (cloud metadata lives there), always denied\n"],
        ]);
        expect(result.network?.map((attempt) => attempt.reason)).toEqual([
          "rebind.example.test:80 (127.0.0.1) is a loopback address, always denied",
          "rebind.example.test:443 (127.0.0.1) is a loopback address, always denied",
          "metadata.example.test:80 (169.254.169.254) is a link-local address (cloud metadata lives there), always denied",
          "169.254.169.254:80 is a link-local address (cloud metadata lives there), always denied",
        ]);
      });

      test("refuses IPv6 literal destinations with a reason", async () => {
        const result = await python(
          `outcomes = {}
outcomes["connect"] = refused_with("CONNECT [::1]:443 HTTP/1.1", "[::1]:443")
try:
    urllib.request.urlopen("http://[2001:db8::1]/", timeout=30)
    outcomes["http"] = "opened"
except urllib.error.HTTPError as error:
    outcomes["http"] = [error.code, error.read().decode()]
print(json.dumps(outcomes))`,
          allowing("*"),
        );
        const outcomes = printed(result);
        expect(outcomes.connect).toEqual({
          status: "HTTP/1.1 403 Forbidden",
          body: "egress denied: ::1:443: IPv6 literal destinations are not supported; ask for the host by name\n",
        });
        expect(outcomes.http).toEqual([403, expect.stringMatching(/IPv6 literal destinations are not supported/)]);
        expect(result.network?.map((attempt) => attempt.allowed)).toEqual([false, false]);
      });
    });

    section("the server and its platform", () => {
      test("cannot reach the server's own API, by name or by address", async () => {
        const result = await python(
          `outcomes = {}
try:
    urllib.request.urlopen("http://${HOSTS.api}/health", timeout=30)
    outcomes["by name"] = "opened"
except urllib.error.HTTPError as error:
    outcomes["by name"] = [error.code, error.read().decode()]
outcomes["through the proxy"] = refused_with("CONNECT 127.0.0.1:${fixture.apiPort} HTTP/1.1", "127.0.0.1:${fixture.apiPort}")["body"]
try:
    socket.create_connection(("127.0.0.1", ${fixture.apiPort}), timeout=5).close()
    outcomes["directly"] = "open"
except OSError as error:
    outcomes["directly"] = error_name(error)
print(json.dumps(outcomes))`,
          allowing("*"),
        );
        expect(printed(result)).toEqual({
          // The operator's hosts map points the name at the server's port: still refused.
          "by name": [403, `egress denied: ${HOSTS.api}:${fixture.apiPort} (127.0.0.1) is this server's own address, always denied\n`],
          "through the proxy": `egress denied: 127.0.0.1:${fixture.apiPort} is this server's own address, always denied\n`,
          directly: "ECONNREFUSED",
        });
        expect(fixture.apiRequests).toEqual([]);
      });

      test("cannot reach the Docker engine: no socket, no port", async () => {
        const result = await python(
          `outcomes = {}
for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
        outcomes[path] = "open"
    except OSError as error:
        outcomes[path] = error_name(error)
for port in (2375, 2376):
    outcomes["proxy %d" % port] = refused_with("CONNECT 127.0.0.1:%d HTTP/1.1" % port, "127.0.0.1:%d" % port)["body"]
print(json.dumps(outcomes))`,
          allowing("*"),
        );
        const outcomes = printed(result) as Record<string, string>;
        for (const path of ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"]) {
          expect([path, outcomes[path]]).toEqual([path, "ENOENT"]);
        }
        expect(outcomes["proxy 2375"]).toBe("egress denied: 127.0.0.1:2375 is a loopback address, always denied\n");
        expect(outcomes["proxy 2376"]).toBe("egress denied: 127.0.0.1:2376 is a loopback address, always denied\n");
      });

      test("cannot reach the Kubernetes API: no token, and its service address is refused", async () => {
        const result = await python(
          `outcomes = {}
outcomes["token"] = os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token")
outcomes["by name"] = refused_with("CONNECT kubernetes.default.svc:443 HTTP/1.1", "kubernetes.default.svc:443")["body"]
outcomes["by address"] = refused_with("CONNECT 10.96.0.1:443 HTTP/1.1", "10.96.0.1:443")["body"]
host = os.environ.get("KUBERNETES_SERVICE_HOST")
if host:
    try:
        socket.create_connection((host, int(os.environ.get("KUBERNETES_SERVICE_PORT", "443"))), timeout=5).close()
        outcomes["directly"] = "open"
    except socket.timeout:
        outcomes["directly"] = "timeout"
    except OSError as error:
        outcomes["directly"] = error_name(error)
print(json.dumps(outcomes))`,
          allowing("*"),
        );
        const outcomes = printed(result);
        expect(outcomes.token).toBe(false);
        expect(outcomes["by name"]).toMatch(
          /^egress denied: kubernetes\.default\.svc:443 \(10\.96\.0\.1\) is a private address.*always denied\n$/,
        );
        expect(outcomes["by address"]).toMatch(/^egress denied: 10\.96\.0\.1:443 is a private address.*always denied\n$/);
        if (outcomes.directly !== undefined) expect(GOT_THROUGH).not.toContain(outcomes.directly);
      });
    });

    section("bounds", () => {
      test("refuses a connection over the sandbox's connection bound, with the reason", async () => {
        const { maxConnections } = EGRESS_HOSTILE_BOUNDS;
        const result = await python(
          `held, statuses = [], []
for _ in range(${maxConnections + 2}):
    sock = proxy_open("CONNECT ${HOSTS.files}:443 HTTP/1.1", "${HOSTS.files}:443")
    status, rest = read_head(sock)
    if status.startswith("HTTP/1.1 200"):
        held.append(sock)
        statuses.append(status)
    else:
        statuses.append([status, read_all(sock, rest)])
print(json.dumps(statuses))`,
          allowing(HOSTS.files),
        );
        const statuses = printed(result) as unknown[];
        expect(statuses.slice(0, maxConnections)).toEqual(Array(maxConnections).fill(expect.stringMatching(/^HTTP\/1\.1 200/)));
        const refusal = `egress denied: ${HOSTS.files}:443 refused: the sandbox has more than ${maxConnections} egress connections open\n`;
        expect(statuses.slice(maxConnections)).toEqual([
          ["HTTP/1.1 403 Forbidden", refusal],
          ["HTTP/1.1 403 Forbidden", refusal],
        ]);
      });

      test("closes the sandbox's connections past its byte bound, and refuses new ones", async () => {
        const { maxBytes } = EGRESS_HOSTILE_BOUNDS;
        const result = await python(
          `outcomes = {}
try:
    body = urllib.request.urlopen("https://${HOSTS.files}/bytes?size=${2 * maxBytes}", timeout=30).read()
    outcomes["over"] = len(body)
except Exception as error:
    outcomes["over"] = "cut"
try:
    urllib.request.urlopen("https://${HOSTS.files}/data.csv", timeout=30)
    outcomes["after"] = "opened"
except urllib.error.URLError as error:
    outcomes["after"] = str(error.reason)
print(json.dumps(outcomes))`,
          allowing(HOSTS.files),
        );
        expect(printed(result)).toEqual({ over: "cut", after: "Tunnel connection failed: 403 Forbidden" });
        expect(result.network?.map((attempt) => attempt.reason)).toEqual(
          expect.arrayContaining([
            `closed: the sandbox went over its egress byte bound (${maxBytes} bytes)`,
            `${HOSTS.files}:443 refused: the sandbox used up its egress byte bound (${maxBytes} bytes)`,
          ]),
        );
      });
    });

    section("the proxy's key", () => {
      test("never lets the proxy's CA private key into the sandbox: only its certificate", async () => {
        const result = await python(
          `outcomes = {}
bundle = os.environ["SSL_CERT_FILE"]
directory = os.path.dirname(bundle)
outcomes["directory"] = sorted(os.listdir(directory))
outcomes["certificates"] = open(bundle).read().count("BEGIN CERTIFICATE") > 0
# The proxy's CA signs what it serves for a host with a secret: that host's certificate is checked against the bundle.
outcomes["secret host"] = urllib.request.urlopen("https://${HOSTS.files}/data.csv", timeout=30).status
# Spelt in two parts, so that this code (in /workspace) does not hold what it looks for.
needle = b"PRIVATE" + b" KEY"
found = [key for key, value in os.environ.items() if needle in value.encode()]
for top in ("/run", "/etc", "/tmp", "/workspace", "/home", "/root", "/var", "/proc"):
    for root, dirs, files in os.walk(top):
        if root == "/proc":
            dirs[:] = [name for name in dirs if name.isdigit()]
        elif root.startswith("/proc/"):
            dirs[:] = []
            files = [name for name in files if name in ("environ", "cmdline")]
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as handle:
                    if needle in handle.read(1 << 22):
                        found.append(path)
            except OSError:
                pass
outcomes["private keys"] = found
print(json.dumps(outcomes))`,
          allowing(HOSTS.files),
          [EGRESS_SECRET_NAME],
        );
        const outcomes = printed(result);
        expect(outcomes).toMatchObject({ certificates: true, "secret host": 200, "private keys": [] });
        // Only what the gateway puts there (local and docker: the bound directory; elsewhere, the bundle's own).
        expect(outcomes.directory).not.toContainEqual(expect.stringMatching(/key/i));
      });
    });
  });
}
