import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "@code-interpreter/core";
import { newSessionId, unixNow } from "@code-interpreter/core/sandbox";
import { afterAll, describe, expect, it } from "vitest";
import { createLocalBackend, type LocalBackend, type LocalBackendSettings, LocalDriver } from "../src/index.js";
import { listSandboxProcesses, listSessionDirs } from "../src/testing/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-session-pool-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));

const settings = (overrides: Partial<LocalBackendSettings> = {}) => ({
  stateDir,
  sandbox: process.env.CI === "true" ? ("require" as const) : ("auto" as const),
  pool: false as const,
  warn: () => {},
  ...overrides,
});
const open = (overrides: Partial<LocalBackendSettings> = {}) => createLocalBackend(settings(overrides));

/** Polls until `check` holds (bounded). */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Host processes whose command line starts with `name`. */
async function hostProcessesNamed(name: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((entry) => /^\d+$/.test(entry))) {
    const commandLine = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (commandLine.startsWith(name)) found.push(pid);
  }
  return found;
}

/** What code can observe of a session: its workspace, /tmp, its processes and environment, from bash and from Python. */
async function observe(backend: Backend, sessionId: string): Promise<string[]> {
  const processes = "import os; print(sorted(open(f'/proc/{p}/comm').read().strip() for p in os.listdir('/proc') if p.isdigit()))";
  const bash = await backend.runInSession({
    sessionId,
    language: "bash",
    code: `ls -A /workspace /tmp /dev/shm; env | grep -v '^HOSTNAME=' | sort; python3 -c "${processes}"`,
    timeoutMs: 10_000,
  });
  const python = await backend.runInSession({
    sessionId,
    language: "python",
    code: `import os\nprint(os.listdir('/workspace'), os.listdir('/tmp'), os.listdir('/dev/shm'))\n${processes}\nprint(sorted(k for k in os.environ if k != 'HOSTNAME'))`,
    timeoutMs: 10_000,
  });
  return [bash.stdout, bash.stderr, python.stdout, python.stderr];
}

describe("local session pool", { timeout: 120_000 }, () => {
  it("makes a new session of the warm one: its id, the tenant and expiry given, seen so by another server on the same state directory", async () => {
    const backend = await open({ sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    let other: LocalBackend | undefined;
    try {
      await until(() => backend.warmSessionCount === 1, "a warm session");
      const [warmId] = await listSessionDirs(stateDir, { includeWarm: true });
      expect(warmId).toMatch(/^code-session-/);
      // Waiting unclaimed, it is no session: not found, not listed, no leftover.
      await expect(backend.getSession(warmId as string)).rejects.toThrow(/not found/);
      expect(await backend.listSessions()).toEqual([]);
      expect(await listSessionDirs(stateDir)).toEqual([]);
      expect(await listSandboxProcesses()).toEqual([]);
      expect((await listSandboxProcesses({ includeWarm: true })).length).toBeGreaterThan(0);

      const session = await backend.createSession({ ttlSeconds: 600, tenant: "acme", files: [] });
      expect(session.id).toBe(warmId);
      expect(session).toMatchObject({ tenant: "acme" });
      expect(session.expiresAt).toBeGreaterThanOrEqual(unixNow() + 590);
      // Claimed, it is a session like any: listed, and its directory and sandboxes count.
      expect(await backend.listSessions()).toEqual([session]);
      expect(await listSessionDirs(stateDir)).toEqual([session.id]);
      expect(await listSandboxProcesses()).not.toEqual([]);

      other = await open({ sessionPool: false });
      expect(await other.getSession(session.id)).toEqual(session);
      expect(await other.listSessions()).toEqual([session]);
      const record = JSON.parse(await readFile(join(stateDir, "sessions", session.id, "session.json"), "utf8"));
      expect(record).toEqual({ id: session.id, created_at: expect.any(Number), expires_at: session.expiresAt, tenant: "acme" });
      expect((await other.runInSession({ sessionId: session.id, language: "bash", code: "echo hi", timeoutMs: 10_000 })).stdout).toBe(
        "hi\n",
      );
      await backend.deleteSession(session.id);
      expect(await listSessionDirs(stateDir)).toEqual([]);
      // The other server's command runner, started ahead for the next command, ends at its next reap.
      await other.reapExpiredSessions();
      expect(await listSandboxProcesses()).toEqual([]);
    } finally {
      await other?.close();
      await backend.close();
    }
    expect(await listSessionDirs(stateDir, { includeWarm: true })).toEqual([]);
    expect(await listSandboxProcesses({ includeWarm: true })).toEqual([]);
  });

  it("reaps a warm session directory nobody claimed once past its age limit, and only then", async () => {
    const backend = await open({ sessionPool: false });
    const driver = new LocalDriver({ ...backend.settings }, backend.isolation);
    try {
      const expired = newSessionId();
      const waiting = newSessionId();
      await driver.createSession({ id: expired, expiresAt: unixNow() - 1, warm: true });
      await driver.createSession({ id: waiting, expiresAt: unixNow() + 600, warm: true });
      expect(await backend.listSessions()).toEqual([]);
      await expect(backend.getSession(waiting)).rejects.toThrow(/not found/);
      expect(await backend.reapExpiredSessions()).toEqual([]);
      expect(await listSessionDirs(stateDir, { includeWarm: true })).toEqual([waiting]);
      await driver.removeSession({ id: waiting, expiresAt: 0, createdAt: 0, ended: false });
      expect(await listSessionDirs(stateDir, { includeWarm: true })).toEqual([]);
    } finally {
      await driver.close();
      await backend.close();
    }
  });

  it("gives a taken warm session nothing a fresh one would not have: empty workspace and /tmp, the same processes and environment", async () => {
    const fresh = await open({ sessionPool: false });
    const pooled = await open({ sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    try {
      await until(() => pooled.warmSessionCount === 1, "a warm session");
      const [warmId] = await listSessionDirs(stateDir, { includeWarm: true });
      const taken = await pooled.createSession({ ttlSeconds: 60, files: [] });
      const made = await fresh.createSession({ ttlSeconds: 60, files: [] });
      try {
        expect(taken.id).toBe(warmId);
        const seen = await observe(pooled, taken.id);
        expect(seen[0]).toContain("/dev/shm:\n\n/tmp:\n\n/workspace:\n");
        expect(seen[2]).toContain("[] [] []\n");
        expect(seen).toEqual(await observe(fresh, made.id));
      } finally {
        await pooled.deleteSession(taken.id);
        await fresh.deleteSession(made.id);
      }
    } finally {
      await pooled.close();
      await fresh.close();
    }
  });

  it("ends what a session command left running with the command, and starts no runner for a session once it is deleted", async () => {
    const backend = await open({ sessionPool: { min: 1, max: 1, idleTimeoutMs: 60_000 } });
    try {
      const session = await backend.createSession({ ttlSeconds: 60, files: [] });
      const bash = (code: string) => backend.runInSession({ sessionId: session.id, language: "bash", code, timeoutMs: 10_000 });
      const marker = `left-by-a-command-${session.id}`;
      expect((await bash(`setsid bash -c 'exec -a ${marker} sleep 300' </dev/null >/dev/null 2>&1 & echo left`)).stdout).toBe("left\n");
      // The next command has a sandbox of its own; the one before went with its runner, the sleep with it.
      expect((await bash(`ps -eo args= | grep -c '^${marker}' || true`)).stdout).toBe("0\n");
      await until(async () => (await hostProcessesNamed(marker)).length === 0, "the command's sandbox to end");
      // The next command's runner is started as soon as an answer is in; a delete right after the answer ends it too.
      await bash("true");
      await backend.deleteSession(session.id);
      expect(await listSandboxProcesses()).toEqual([]);
      expect(await listSessionDirs(stateDir)).toEqual([]);
    } finally {
      await backend.close();
    }
    expect(await listSandboxProcesses({ includeWarm: true })).toEqual([]);
  });
});
