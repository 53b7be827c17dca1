import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newSessionId } from "@code-interpreter/core/sandbox";
import { afterAll, describe, expect, it } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { listSandboxProcesses, listSessionDirs } from "../src/testing/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-sessions-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));

const open = () => createLocalBackend({ stateDir, sandbox: process.env.CI === "true" ? "require" : "auto", pool: false, warn: () => {} });
const bash = (backend: LocalBackend, sessionId: string, code: string) =>
  backend.runInSession({ sessionId, language: "bash", code, timeoutMs: 10_000 });

describe("local sessions on disk", { timeout: 120_000 }, () => {
  it("outlive the server: a new backend finds the session, its expiry, tenant and files, but not its variables", async () => {
    const first = await open();
    const session = await first.createSession({ ttlSeconds: 600, tenant: "acme", files: [] });
    await first.runInSession({
      sessionId: session.id,
      language: "python",
      code: "x = 1\nopen('kept.txt', 'w').write('kept')",
      timeoutMs: 10_000,
    });
    await first.close();
    expect(await listSandboxProcesses()).toEqual([]);

    const second = await open();
    try {
      expect(await second.getSession(session.id)).toEqual(session);
      expect((await bash(second, session.id, "cat kept.txt")).stdout).toBe("kept");
      const cell = await second.runInSession({ sessionId: session.id, language: "python", code: "x", timeoutMs: 10_000 });
      expect(cell.stderr).toContain("NameError");
      await second.deleteSession(session.id);
    } finally {
      await second.close();
    }
  });

  it("keeps session.json in the format every earlier server wrote", async () => {
    const backend = await open();
    try {
      const session = await backend.createSession({ ttlSeconds: 60, tenant: "t1", files: [] });
      const record = JSON.parse(await readFile(join(stateDir, "sessions", session.id, "session.json"), "utf8"));
      expect(record).toEqual({ id: session.id, created_at: expect.any(Number), expires_at: session.expiresAt, tenant: "t1" });
      await backend.deleteSession(session.id);
    } finally {
      await backend.close();
    }
  });

  // A directory without its record that was touched lately is a session being made (or claimed) right now: a
  // reaper that took it for a leftover removed new sessions under their first command ("was deleted while the command ran").
  it("reaps what a crashed server left: a session directory without its record, and the trash; not a session being made", async () => {
    const orphan = "code-session-00000000-0000-4000-8000-000000000000";
    const starting = newSessionId();
    await mkdir(join(stateDir, "sessions", orphan, "workspace"), { recursive: true });
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(join(stateDir, "sessions", orphan), anHourAgo, anHourAgo);
    await mkdir(join(stateDir, "sessions", starting, "workspace"), { recursive: true });
    await mkdir(join(stateDir, "trash", `${orphan}.1`, "deep", "er"), { recursive: true });
    await writeFile(join(stateDir, "trash", `${orphan}.1`, "deep", "er", "file"), "x");
    const backend = await open();
    try {
      expect((await backend.listSessions()).map((session) => session.id)).toContain(orphan);
      const reaped = await backend.reapExpiredSessions();
      expect(reaped).toContain(orphan);
      expect(reaped).not.toContain(starting);
      // A warm session directory waiting in the session pool is no leftover.
      expect(await listSessionDirs(stateDir)).toEqual([starting]);
      expect(await readdir(join(stateDir, "trash"))).toEqual([]);
    } finally {
      await backend.close();
      await rm(join(stateDir, "sessions", starting), { recursive: true, force: true });
    }
  });

  it.each([
    ["bash", "echo started; sleep 30"],
    ["python", "import time\nprint('started')\ntime.sleep(30)"],
  ] as const)("stops a %s command of a session deleted while it runs, and says so", async (language, code) => {
    const backend = await open();
    try {
      const session = await backend.createSession({ ttlSeconds: 60, files: [] });
      // Python runs in the session's kernel: deleting the session stops it mid-cell.
      let started = false;
      const command = backend.runInSession({
        sessionId: session.id,
        language,
        code,
        timeoutMs: 60_000,
        onStdout: () => {
          started = true;
        },
      });
      // Its sandbox (and the session's kernel) may have been started ahead: the command has started once it prints.
      const deadline = Date.now() + 30_000;
      while (!started && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      await backend.deleteSession(session.id);
      await expect(command).rejects.toThrow(`Session "${session.id}" was deleted while the command ran`);
      expect(await listSandboxProcesses()).toEqual([]);
      await expect(backend.getSession(session.id)).rejects.toThrow(/not found/);
    } finally {
      await backend.close();
    }
  });
});
