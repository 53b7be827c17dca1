import type { Backend, ExecuteOptions, ExecutionResult, NetworkPolicy } from "@code-interpreter/core";
import { describeSection, unknownSections } from "@code-interpreter/core/testing";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { DATA_CSV } from "../loopback-internet.js";
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

/**
 * What `network` gives a user on a backend (issue 22), through the engine as a
 * server calls it, against the real egress proxy and the tests' loopback
 * internet: `describeEgressContract({ name, createBackend, listLeftovers })`.
 * Sections: `downloads`, `packages`, `secrets`, `sessions`, `without network`.
 * One backend and one gateway for the whole suite.
 */
export function describeEgressContract(options: EgressSuiteOptions): void {
  describe(`${options.name} backend egress contract`, { timeout: 120_000 }, () => {
    const used = new Set<string>();
    const testsUsed = new Set<string>();
    const section = describeSection(options.sections, used);
    let fixture: EgressFixture;
    let backend: Backend;
    const test = egressTest(options, testsUsed);
    /** A one-shot execution (60 s: pip and npm on a loaded machine), with `network` when given. */
    const run = (code: string, network: NetworkPolicy | undefined, extra: Partial<ExecuteOptions> = {}): Promise<ExecutionResult> =>
      backend.execute({
        code,
        language: "bash",
        timeoutMs: 60_000,
        lastLineInteractive: false,
        files: [],
        ...(network ? { network } : {}),
        ...extra,
      });
    const python = (code: string, network: NetworkPolicy | undefined, extra: Partial<ExecuteOptions> = {}) =>
      run(`python3 - <<'PYTHON'\n${PYTHON_PROXY_HELPERS}\n${code}\nPYTHON`, network, extra);

    beforeAll(async () => {
      fixture = await startEgressFixture(options.gatewayOptions);
      backend = await options.createBackend({ egress: fixture.gateway });
    }, 120_000);
    afterAll(async () => {
      await backend?.close();
      await expectNothingLeft(options, fixture?.gateway);
      await fixture?.close();
      expect(unknownSections(options.sections, used)).toEqual([]);
      expect(Object.keys(options.gaps ?? {}).filter((name) => !testsUsed.has(name))).toEqual([]);
    });

    section("downloads", () => {
      test("downloads over HTTPS from an allowed host, and lists the attempt", async () => {
        const result = await python(
          `print(urllib.request.urlopen("https://${HOSTS.files}/data.csv", timeout=30).read().decode(), end="")`,
          allowing(HOSTS.files),
        );
        expect(result).toMatchObject({ stdout: DATA_CSV, stderr: "", exitCode: 0 });
        expect(result.network).toContainEqual({ host: HOSTS.files, port: 443, allowed: true });
      });

      test("refuses a host the policy does not allow, at once, with a 403 naming the host and the rule", async () => {
        const started = Date.now();
        const result = await python(
          `try:
    urllib.request.urlopen("http://${HOSTS.denied}/data.csv", timeout=30)
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode().strip())`,
          allowing(HOSTS.files),
        );
        expect(result.stdout).toBe(`403 egress denied: ${HOSTS.denied}:80 is not in allow_out\n`);
        expect(result.network).toEqual([
          { host: HOSTS.denied, port: 80, allowed: false, reason: `${HOSTS.denied}:80 is not in allow_out` },
        ]);
        expect(Date.now() - started).toBeLessThan(30_000);
      });
    });

    section("packages", () => {
      const pip = `pip install --no-cache-dir --disable-pip-version-check --retries 1 --timeout 30 --index-url https://${HOSTS.pypi}/simple`;
      const npm = `mkdir -p /tmp/app && cd /tmp/app && npm install --no-audit --no-fund --no-update-notifier --fetch-retries 0 --registry http://${HOSTS.npm}/`;

      test("installs with pip from the index when it is allowed", async () => {
        const result = await run(
          `${pip} ${fixture.internet.pythonPackage.name} >/tmp/pip.log 2>&1 || { cat /tmp/pip.log; exit 1; }
python3 -c 'import ci_loopback_hello; print(ci_loopback_hello.GREETING)'`,
          allowing(HOSTS.pypi),
        );
        expect(result.stdout).toBe(`${fixture.internet.pythonPackage.greeting}\n`);
        expect(result.exitCode).toBe(0);
      });

      test("fails pip with the proxy's reason, at once, when the index is not allowed", async () => {
        const started = Date.now();
        const result = await run(`${pip} ${fixture.internet.pythonPackage.name}`, allowing(HOSTS.files));
        expect(result.exitCode).not.toBe(0);
        // pip shows the proxy's status in its retry warning; the reason is in the answer's `network`.
        expect(`${result.stdout}${result.stderr}`).toMatch(/Tunnel connection failed: 403/);
        expect(result.network).toContainEqual({
          host: HOSTS.pypi,
          port: 443,
          allowed: false,
          reason: `${HOSTS.pypi}:443 is not in allow_out`,
        });
        // Refused, not timed out: well within pip's own 30 s.
        expect(Date.now() - started).toBeLessThan(30_000);
      });

      test("installs with npm from the registry when it is allowed", async () => {
        const { name, greeting } = fixture.internet.npmPackage;
        const result = await run(
          `${npm} ${name} >/tmp/npm.log 2>&1 || { cat /tmp/npm.log; exit 1; }
node -e 'console.log(require("${name}").greeting)'`,
          allowing(HOSTS.npm),
        );
        expect(result.stdout).toBe(`${greeting}\n`);
        expect(result.exitCode).toBe(0);
        expect(result.network).toContainEqual({ host: HOSTS.npm, port: 80, allowed: true });
      });

      test("fails npm with the proxy's reason, at once, when the registry is not allowed", async () => {
        const started = Date.now();
        const result = await run(`${npm} ${fixture.internet.npmPackage.name}`, allowing(HOSTS.files));
        expect(result.exitCode).not.toBe(0);
        expect(`${result.stdout}${result.stderr}`).toMatch(/403/);
        expect(result.network).toContainEqual({ host: HOSTS.npm, port: 80, allowed: false, reason: `${HOSTS.npm}:80 is not in allow_out` });
        expect(Date.now() - started).toBeLessThan(30_000);
      });
    });

    section("secrets", () => {
      test("adds a secret as its host's header while the sandbox finds it nowhere: environment, files, /proc", async () => {
        const hex = Buffer.from(fixture.secret).toString("hex");
        const result = await python(
          `needle = bytes.fromhex("${hex}")
print(urllib.request.urlopen("https://${HOSTS.files}/headers", timeout=30).status)
found = [key for key, value in os.environ.items() if needle in value.encode()]
for top in ("/workspace", "/tmp", "/run", "/etc", "/home", "/root", "/var", "/proc"):
    for root, dirs, files in os.walk(top):
        if root == "/proc":
            dirs[:] = [name for name in dirs if name.isdigit()]
        elif root.startswith("/proc/"):
            dirs[:] = []
            # This process holds the needle itself (it searches for it): its own memory is left out.
            files = [] if os.path.basename(root) == str(os.getpid()) else [name for name in files if name in ("environ", "cmdline", "maps")]
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as handle:
                    if needle in handle.read(1 << 24):
                        found.append(path)
            except OSError:
                pass
print("found:", found)`,
          allowing(HOSTS.files),
          { secrets: [EGRESS_SECRET_NAME] },
        );
        expect(result.stdout).toBe("200\nfound: []\n");
        const seen = fixture.internet.requests.filter((request) => request.url === "/headers");
        expect(seen.at(-1)?.headers.authorization).toBe(`Bearer ${fixture.secret}`);
        // Nor in the answer.
        expect(JSON.stringify({ ...result, files: [] })).not.toContain(fixture.secret);
      });
    });

    section("sessions", () => {
      test("gives a session a way out, and a new policy closes the connections it forbids", async (context) => {
        if (!backend.capabilities.statefulPython) context.skip("the backend has no Python sessions");
        const session = await backend.createSession({ ttlSeconds: 300, files: [], network: allowing(HOSTS.files, HOSTS.web) });
        try {
          expect(session.network).toEqual(allowing(HOSTS.files, HOSTS.web));
          const cell = (code: string) => backend.runInSession({ sessionId: session.id, language: "python", code, timeoutMs: 60_000 });
          // One HTTPS connection through the proxy, kept open in the kernel between cells.
          const opened = await cell(`${PYTHON_PROXY_HELPERS}
import http.client
proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
headers = {}
if proxy.username is not None:
    credentials = "%s:%s" % (urllib.parse.unquote(proxy.username), urllib.parse.unquote(proxy.password or ""))
    headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
connection = http.client.HTTPSConnection(proxy.hostname, proxy.port, timeout=10, context=ssl.create_default_context())
connection.set_tunnel("${HOSTS.files}", 443, headers=headers)
connection.request("GET", "/data.csv")
answer = connection.getresponse()
print(answer.status, answer.read().decode().splitlines()[1])`);
          expect(opened.stderr).toBe("");
          expect(opened.stdout).toBe("200 Lisbon,545923\n");
          expect(opened.network).toEqual([{ host: HOSTS.files, port: 443, allowed: true }]);

          const updated = await backend.updateSessionNetwork?.(session.id, allowing(HOSTS.web));
          expect(updated?.network).toEqual(allowing(HOSTS.web));
          expect((await backend.getSession(session.id)).network).toEqual(allowing(HOSTS.web));

          const after = await cell(`try:
    connection.request("GET", "/data.csv")
    print("kept", connection.getresponse().status)
except Exception as error:
    print("closed")
try:
    urllib.request.urlopen("https://${HOSTS.files}/data.csv", timeout=10)
    print("new: opened")
except urllib.error.URLError as error:
    print("new: refused", error.reason)
print(urllib.request.urlopen("http://${HOSTS.web}/data.csv", timeout=10).read().decode().splitlines()[2])`);
          expect(after.stdout).toBe("closed\nnew: refused Tunnel connection failed: 403 Forbidden\nPorto,231800\n");
          expect(after.network).toEqual(
            expect.arrayContaining([
              {
                host: HOSTS.files,
                port: 443,
                allowed: false,
                reason: `closed after the policy changed: ${HOSTS.files}:443 is not in allow_out`,
              },
              { host: HOSTS.files, port: 443, allowed: false, reason: `${HOSTS.files}:443 is not in allow_out` },
              { host: HOSTS.web, port: 80, allowed: true },
            ]),
          );
          // A bash command in the same session goes out under the new policy too.
          const bash = await backend.runInSession({
            sessionId: session.id,
            language: "bash",
            code: `python3 -c 'import urllib.request; print(urllib.request.urlopen("http://${HOSTS.web}/data.csv", timeout=10).status)'`,
            timeoutMs: 60_000,
          });
          expect(bash.stdout).toBe("200\n");
        } finally {
          await backend.deleteSession(session.id);
        }
      });
    });

    section("without network", () => {
      test("changes nothing without `network`: no proxy, no route, no `network` in the answer", async () => {
        const result = await python(
          `print(sorted(key for key in os.environ if "proxy" in key.lower() or key in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "PIP_CERT")))
# The mount point may be there (an image can make it), but nothing in it.
print(os.listdir("/run/code-interpreter/egress") if os.path.isdir("/run/code-interpreter/egress") else [])
try:
    socket.create_connection(("127.0.0.1", 3128), timeout=5)
    print("connected")
except OSError as error:
    print(error_name(error))`,
          undefined,
        );
        expect(result.stdout).toBe("[]\n[]\nECONNREFUSED\n");
        expect(result).not.toHaveProperty("network");
        await expect(run("true", undefined, { secrets: [EGRESS_SECRET_NAME] })).rejects.toThrow(/secrets need `network`/);
      });

      test("gives a session without `network` none, and refuses to replace a policy it does not have", async () => {
        const session = await backend.createSession({ ttlSeconds: 300, files: [] });
        try {
          expect(session).not.toHaveProperty("network");
          const result = await backend.runInSession({
            sessionId: session.id,
            language: "bash",
            code: "env | grep -ci proxy",
            timeoutMs: 30_000,
          });
          expect(result.stdout).toBe("0\n");
          expect(result).not.toHaveProperty("network");
          await expect(backend.updateSessionNetwork?.(session.id, allowing(HOSTS.web))).rejects.toThrow(/network/);
        } finally {
          await backend.deleteSession(session.id);
        }
      });
    });
  });
}
