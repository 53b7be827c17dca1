// Issue 22 on the local backend, end to end: real bubblewrap sandboxes (no
// network of their own) given an egress directory, the real egress proxy
// (@code-interpreter/egress) in this process, and the tests' loopback
// "internet" behind it, reached through the proxy's hosts map. The driver is
// called directly: the engine's `network` plumbing is another package's.
import { access, chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EgressAttachment, NetworkPolicy } from "@code-interpreter/core";
import { DECLARED_ENV_VARIABLES, exchange, planExecution, planPythonCell, sandboxLimits } from "@code-interpreter/core/engine";
import type { RunnerResult } from "@code-interpreter/core/runner";
import { newSessionId, unixNow } from "@code-interpreter/core/sandbox";
import { createEgressGateway, type EgressProxy } from "@code-interpreter/egress";
import { type LoopbackInternet, startLoopbackInternet } from "@code-interpreter/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { LocalDriver } from "../src/local-driver.js";
import { listSandboxProcesses } from "../src/testing/index.js";

// Made up per run and never written into any sandbox: the test searches the sandbox for it.
const SECRET = `sk-loopback-${Math.random().toString(36).slice(2)}${Date.now()}`;

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-egress-"));
// The proxy's directories, traversable by the sandbox uid (bubblewrap runs as 65532 when the tests run as root).
const egressDir = await mkdtemp(join(tmpdir(), "ci-egress-"));
await chmod(egressDir, 0o711);
let internet: LoopbackInternet;
let gateway: EgressProxy;
let backend: LocalBackend;
let driver: LocalDriver;

beforeAll(async () => {
  internet = await startLoopbackInternet();
  gateway = await createEgressGateway({
    hosts: {
      "files.example.test": { address: "127.0.0.1", port: internet.https.port },
      "pypi.example.test": { address: "127.0.0.1", port: internet.index.port },
      "denied.example.test": { address: "127.0.0.1", port: internet.https.port },
    },
    upstreamCa: internet.caCertificate,
    stateDirectory: egressDir,
    secrets: { "files-token": { value: SECRET, hosts: ["files.example.test"], format: "Bearer {value}" } },
  });
  backend = await createLocalBackend({ stateDir, sandbox: "require", pool: false, sessionPool: false });
  driver = new LocalDriver({ ...backend.settings }, backend.isolation);
}, 120_000);

afterAll(async () => {
  await driver?.close();
  await backend?.close();
  await gateway?.close();
  await internet?.close();
  await rm(stateDir, { recursive: true, force: true });
  await rm(egressDir, { recursive: true, force: true });
});

let sandboxes = 0;

/** Opens an attachment with `policy`, runs `code` (bash) in a fresh sandbox given its directory and env, closes it. */
async function runWithNetwork(
  code: string,
  policy: NetworkPolicy,
  secrets: string[] = [],
): Promise<{ result: RunnerResult | undefined; attachment: EgressAttachment; attempts: ReturnType<EgressAttachment["drainAttempts"]> }> {
  const attachment = await gateway.open({ sandboxName: `code-exec-egress-test-${++sandboxes}`, policy, secrets });
  try {
    const hostDirectory = attachment.hostDirectory as string;
    const env = { ...attachment.env };
    const sandbox = await driver.start({
      lifetimeSeconds: 120,
      expiresAt: unixNow() + 120,
      warm: false,
      preload: [],
      env,
      egress: { hostDirectory },
    });
    try {
      const request = planExecution(
        { code, language: "bash", timeoutMs: 90_000, lastLineInteractive: false, files: [] },
        { maxOutputBytes: 1 << 20, env, limits: sandboxLimits(backend.settings) },
      );
      const outcome = await exchange(sandbox.channel, { request, stop: () => sandbox.remove() });
      if (!outcome.result) throw new Error(`no answer: ${outcome.diagnostics} ${outcome.partial.stderr}`);
      return { result: outcome.result, attachment, attempts: attachment.drainAttempts() };
    } finally {
      await sandbox.remove();
    }
  } finally {
    await attachment.close();
  }
}

describe("egress on the local backend", () => {
  it("offers egress under bubblewrap", () => {
    expect(driver.capabilities.egress).toBe(true);
  });

  it("downloads over HTTPS from an allowed host, through the forwarder and the proxy", { timeout: 120_000 }, async () => {
    const { result, attempts } = await runWithNetwork(
      `python3 -c 'import urllib.request; print(urllib.request.urlopen("https://files.example.test/data.csv", timeout=30).read().decode(), end="")'`,
      { allow_out: ["files.example.test"], deny_out: [] },
    );
    expect(result?.stderr).toBe("");
    expect(result?.stdout).toBe("city,population\nLisbon,545923\nPorto,231800\n");
    expect(attempts).toContainEqual(expect.objectContaining({ host: "files.example.test", port: 443, allowed: true }));
  });

  it("installs with pip from the loopback index when it is allowed", { timeout: 180_000 }, async () => {
    const { result } = await runWithNetwork(
      `pip install --no-cache-dir --retries 0 --timeout 30 --index-url https://pypi.example.test/simple ${internet.pythonPackage.name} >/tmp/pip.log 2>&1 || { cat /tmp/pip.log; exit 1; }
python3 -c 'import ci_loopback_hello; print(ci_loopback_hello.GREETING)'`,
      { allow_out: ["pypi.example.test"], deny_out: [] },
    );
    expect(result?.stdout).toBe(`${internet.pythonPackage.greeting}\n`);
    expect(result?.exitCode).toBe(0);
  });

  it("fails pip with the proxy's reason, at once, when the index is not allowed", { timeout: 180_000 }, async () => {
    const started = Date.now();
    const { result, attempts } = await runWithNetwork(
      // One retry: pip shows the proxy's answer (403) only in its retry warning; the reason itself is in the attempts.
      `pip install --no-cache-dir --retries 1 --timeout 30 --index-url https://pypi.example.test/simple ${internet.pythonPackage.name}`,
      { allow_out: ["files.example.test"], deny_out: [] },
    );
    expect(result?.exitCode).not.toBe(0);
    expect(`${result?.stdout}${result?.stderr}`).toMatch(/Tunnel connection failed: 403/);
    const denied = attempts.find((attempt) => attempt.host === "pypi.example.test");
    expect(denied).toMatchObject({ allowed: false, reason: expect.stringMatching(/allow_out/) });
    // Refused, not timed out: well within pip's own 30 s timeout.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("refuses a denied host with a 403 that names it", { timeout: 120_000 }, async () => {
    const { result } = await runWithNetwork(
      `python3 -c '
import urllib.request, urllib.error
try:
    urllib.request.urlopen("http://denied.example.test/data.csv", timeout=30)
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode().strip())'`,
      { allow_out: ["files.example.test"], deny_out: [] },
    );
    expect(result?.stdout).toMatch(/^403 egress denied: .*denied\.example\.test/);
  });

  it("adds a secret for its host while the sandbox finds it nowhere: environment, files, /proc", { timeout: 120_000 }, async () => {
    const hex = Buffer.from(SECRET).toString("hex");
    const { result } = await runWithNetwork(
      `python3 - <<'EOF'
import os, urllib.request
needle = bytes.fromhex("${hex}")
print(urllib.request.urlopen("https://files.example.test/headers", timeout=30).status)
found = [key for key, value in os.environ.items() if needle in value.encode()]
for top in ("/workspace", "/tmp", "/run", "/etc", "/proc"):
    for root, dirs, files in os.walk(top):
        if root == "/proc":
            dirs[:] = [name for name in dirs if name.isdigit()]
        elif root.startswith("/proc/"):
            dirs[:] = []
            files = [name for name in files if name in ("environ", "cmdline")]
        for name in files:
            path = os.path.join(root, name)
            if root.startswith("/proc/") and os.path.basename(root) == str(os.getpid()):
                continue  # this process holds the needle itself, in memory
            try:
                with open(path, "rb") as handle:
                    if needle in handle.read(1 << 24):
                        found.append(path)
            except OSError:
                pass
print("found:", found)
EOF`,
      { allow_out: ["files.example.test"], deny_out: [] },
      ["files-token"],
    );
    expect(result?.stdout).toBe("200\nfound: []\n");
    const seen = internet.requests.filter((request) => request.url === "/headers");
    expect(seen.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it("gives a session's kernel a way out that outlives each cell's clean-up", { timeout: 120_000 }, async () => {
    const policy = { allow_out: ["files.example.test"], deny_out: [] };
    const id = newSessionId();
    const attachment = await gateway.open({ sandboxName: id, policy, secrets: [] });
    const session = await driver.createSession({
      id,
      expiresAt: unixNow() + 120,
      env: attachment.env,
      egress: { hostDirectory: attachment.hostDirectory as string },
    });
    try {
      const kernel = await driver.startKernel(session, { env: { ...DECLARED_ENV_VARIABLES, ...attachment.env }, limits: {} });
      try {
        const fetch = `import urllib.request\nprint(urllib.request.urlopen("https://files.example.test/data.csv", timeout=30).read().decode().splitlines()[1])`;
        for (let cell = 0; cell < 2; cell++) {
          const request = planPythonCell(
            { sessionId: id, language: "python", code: fetch, timeoutMs: 60_000 },
            { maxOutputBytes: 1 << 20 },
          );
          const outcome = await exchange(kernel.channel, {
            request: { ...request, ...kernel.requestOverrides },
            stop: () => kernel.kill(),
          });
          expect(outcome.result?.stdout).toBe("Lisbon,545923\n");
        }
      } finally {
        await kernel.kill();
      }
    } finally {
      await driver.removeSession(session);
      await attachment.close();
    }
  });

  it("leaves nothing behind: no sandbox, no forwarder, no egress directory", async () => {
    // A forwarder lives in its sandbox's pid namespace, which ends with the sandbox's bubblewrap.
    expect(await listSandboxProcesses()).toEqual([]);
    expect(await readdir(egressDir)).toEqual([]);
    await expect(access(join(egressDir, "code-exec-egress-test-1"))).rejects.toThrow();
  });

  it("refuses egress where it cannot bind it (no bubblewrap)", async () => {
    const unsandboxed = new LocalDriver({ ...backend.settings }, "none");
    expect(unsandboxed.capabilities.egress).toBe(false);
    await expect(
      unsandboxed.start({
        lifetimeSeconds: 10,
        expiresAt: unixNow() + 10,
        warm: false,
        preload: [],
        env: {},
        egress: { hostDirectory: stateDir },
      }),
    ).rejects.toThrow(/needs bubblewrap/);
  });
});
