import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend, ExecuteOptions, ExecutionResult } from "../backend.js";
import { HOSTILE_MARKER } from "./hostile-code.js";
import type { HostileContext, HostileSettings, HostileTestOptions } from "./hostile-context.js";
import { describeExhaustion } from "./hostile-exhaustion.js";
import { describeFiles } from "./hostile-files.js";
import { describeIsolation } from "./hostile-isolation.js";
import { describeSection, type SuiteSections, testLeftOut, unknownSections } from "./suite-sections.js";

export { HOSTILE_MARKER } from "./hostile-code.js";
export { type HostileSettings, MAX_SNAPSHOT_FILES } from "./hostile-context.js";
export { SYSCALL_TESTS } from "./hostile-isolation.js";

export interface HostileSuiteOptions {
  /** Name shown in the test report. */
  name: string;
  /** Builds the backend under test with these settings. */
  createBackend: (settings: HostileSettings) => Promise<Backend> | Backend;
  /** Sandboxes (containers, pods, processes, session directories) of this service still present. */
  listLeftovers: () => Promise<string[]>;
  /**
   * Controls this backend cannot enforce, by test name, with the reason. Such
   * a test runs as an expected failure titled with the reason: it fails the
   * run if the control starts to hold (so the entry is removed), and the
   * backend must still answer and leave nothing behind.
   */
  gaps?: Readonly<Record<string, string>>;
  /**
   * Controls that hold here only because the test environment stands in for
   * something outside the backend (a node setting, the runtime's seccomp
   * profile), by test name, with what stands in. Such a test runs as usual,
   * titled with it, so the report never passes it off as the backend's own.
   */
  assumes?: Readonly<Record<string, string>>;
  /**
   * The sandboxes run on this machine, so processes that escaped one would
   * show in this host's /proc: each test also checks that none of the code's
   * marked processes survive it. @default false
   */
  sameHost?: boolean;
  /** The sections to run (`resource exhaustion`, `escape and isolation`, `files`), the rest skipped with the reason. @default all */
  sections?: SuiteSections;
  /**
   * How many times slower a syscall is here than on the host's kernel (gVisor's
   * ptrace platform: about 17× for small files). The file-heavy tests give their
   * code this many times their timeout; what they assert stays the same. @default 1
   */
  syscallSlowdown?: number;
}

/** The settings the suite uses. */
export const HOSTILE_SETTINGS: HostileSettings = { maxOutputBytes: 4096, memoryLimitMb: 256, workspaceSizeMb: 16, maxProcesses: 64 };

/** Set in the test process before the backend is built; no sandbox may see it. */
const SECRET_NAME = "CODE_INTERPRETER_HOSTILE_SECRET";
const SECRET = `hostile-secret-${randomUUID()}`;

/**
 * Runs code nobody should trust against a backend, on the real thing:
 * `describeHostileSuite({ name, createBackend, listLeftovers, gaps })`. Each
 * test asserts the safe outcome, then that the backend still answers a
 * trivial execution and that nothing is left behind.
 */
export function describeHostileSuite(options: HostileSuiteOptions): void {
  const settings = HOSTILE_SETTINGS;
  const gaps = options.gaps ?? {};
  const assumes = options.assumes ?? {};
  const used = new Set<string>();
  const sectionsUsed = new Set<string>();
  const section = describeSection(options.sections, sectionsUsed);

  describe(`${options.name} backend against hostile code`, { timeout: 90_000 }, () => {
    let backend: Backend;
    const run = (source: string, extra: Partial<ExecuteOptions> = {}): Promise<ExecutionResult> =>
      backend.execute({ code: source, timeoutMs: 10_000, lastLineInteractive: false, files: [], ...extra });

    beforeAll(async () => {
      process.env[SECRET_NAME] = SECRET;
      backend = await options.createBackend(settings);
    });
    afterAll(async () => {
      delete process.env[SECRET_NAME];
      await backend?.close();
      expect(await options.listLeftovers()).toEqual([]);
      // A gap naming no test is a typo that would hide nothing: refuse it (a skipped section's tests are still declared).
      expect([...Object.keys(gaps), ...Object.keys(assumes)].filter((name) => !used.has(name))).toEqual([]);
      expect(unknownSections(options.sections, sectionsUsed)).toEqual([]);
      expect((options.sections?.tests ?? []).filter((name) => !used.has(name))).toEqual([]);
    });

    /** The backend still answers a trivial execution, and nothing of the test is left. */
    const expectHealthy = async () => {
      const answer = await run("print(1)", { signal: AbortSignal.timeout(20_000) });
      expect(answer).toMatchObject({ stdout: "1\n", exitCode: 0, timedOut: false });
      // A one-shot sandbox is removed just after its answer (the runner answers before its last process has
      // exited): given a bounded moment, nothing is left.
      let leftovers = await options.listLeftovers();
      for (let attempt = 0; attempt < 50 && leftovers.length > 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        leftovers = await options.listLeftovers();
      }
      expect(leftovers).toEqual([]);
      if (options.sameHost) expect(await markedHostProcesses()).toEqual([]);
    };

    const hostile = (name: string, body: () => Promise<void>, testOptions: HostileTestOptions = {}) => {
      used.add(name);
      const reason = gaps[name];
      const assumed = assumes[name];
      const title =
        reason !== undefined ? `${name} [known gap: ${reason}]` : assumed !== undefined ? `${name} [assumes: ${assumed}]` : name;
      if (testLeftOut(options.sections, name)) {
        it.skip(`${title} [${options.sections?.reason}]`, async () => {});
        return;
      }
      it(title, { timeout: testOptions.timeout }, async (context) => {
        if (testOptions.sessions && !backend.capabilities.sessions) context.skip("the backend has no sessions");
        if (reason === undefined) {
          await body();
          await expectHealthy();
          return;
        }
        let held = true;
        try {
          await body();
        } catch {
          held = false;
        }
        await expectHealthy();
        if (held) throw new Error(`"${name}" is listed as a gap of ${options.name} but the control held: remove it from gaps`);
      });
    };

    /** A session that is deleted whatever the test does. */
    const withSession = async (body: (id: string) => Promise<void>) => {
      const session = await backend.createSession({ ttlSeconds: 300, files: [] });
      try {
        await body(session.id);
      } finally {
        await backend.deleteSession(session.id);
      }
    };
    const bash = (sessionId: string, command: string, timeoutMs = 10_000) =>
      backend.runInSession({ sessionId, language: "bash", code: command, timeoutMs });

    const context: HostileContext = {
      hostile,
      run,
      bash,
      withSession,
      backend: () => backend,
      settings,
      secret: SECRET,
      syscallSlowdown: options.syscallSlowdown ?? 1,
    };
    section("resource exhaustion", () => describeExhaustion(context));
    section("escape and isolation", () => describeIsolation(context));
    section("files", () => describeFiles(context));
  });
}

/** Processes on this host whose command line carries the hostile suite's marker. */
export async function markedHostProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const commandLine = await readFile(`/proc/${pid}/cmdline`, "utf8");
      if (commandLine.startsWith(HOSTILE_MARKER)) found.push(`${pid} ${commandLine.replaceAll("\0", " ").trim()}`);
    } catch {
      // it ended while we looked
    }
  }
  return found;
}
