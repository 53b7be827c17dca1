import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend, ExecuteOptions, ExecutionResult } from "../backend.js";
import { SessionNotFoundError } from "../errors.js";
import { type OutputChunk, TRUNCATION_SUFFIX } from "../output.js";
import { readContent, type WorkspaceFileStream } from "../workspace/workspace-tar.js";
import { describeSandboxEnvironment } from "./contract-environment.js";
import { describeRichResults } from "./contract-rich-results.js";
import { describeSection, type SuiteSections, unknownSections } from "./suite-sections.js";

/** Settings the suite needs the backend under test to be built with. */
export interface ContractSettings {
  /** MAX_OUTPUT_BYTES for the backend. */
  maxOutputBytes: number;
  /** MEMORY_LIMIT_MB for the backend. */
  memoryLimitMb: number;
}

export interface BackendContractOptions {
  /** Name shown in the test report. */
  name: string;
  /** Builds the backend under test with the given settings. */
  createBackend: (settings: ContractSettings) => Promise<Backend> | Backend;
  /**
   * Lists sandboxes (containers, pods, processes) of this service still
   * present; the suite checks that none outlive the work that made them.
   */
  listLeftovers: () => Promise<string[]>;
  /** Extra tests that need the same backend. */
  additionalTests?: (getBackend: () => Backend) => void;
  /**
   * The sections to run (`execute`, `isolation`, `sessions`, `stateful Python
   * sessions`, `cleanup`, `sandbox environment`, `rich results`, `rich
   * results in a session`), the rest
   * skipped with the reason. @default all
   */
  sections?: SuiteSections;
}

// 512 MB: the data stack's own peak (pyplot and a savefig reach ~330 MB of address space, which is what RLIMIT_AS counts).
const SETTINGS: ContractSettings = { maxOutputBytes: 4096, memoryLimitMb: 512 };

/**
 * The behaviour every backend must have, run against the real thing by each
 * backend package: `describeBackendContract({ name, createBackend, listLeftovers })`.
 */
export function describeBackendContract(options: BackendContractOptions): void {
  describe(`${options.name} backend contract`, { timeout: 60_000 }, () => {
    const used = new Set<string>();
    if (options.sections?.tests) throw new Error("the contract suite runs whole sections: SuiteSections.tests is the hostile suite's");
    const section = describeSection(options.sections, used);
    let backend: Backend;
    const run = (code: string, extra: Partial<ExecuteOptions> = {}): Promise<ExecutionResult> =>
      // 30 s: importing the data stack takes seconds on a loaded two-core machine; no passing test waits for it.
      backend.execute({ code, timeoutMs: 30_000, lastLineInteractive: false, files: [], ...extra });
    const text = (value: string) => Buffer.from(value);
    /** A bash command in a session, 10 s unless said. */
    const bashIn = (sessionId: string, code: string, timeoutMs = 10_000) =>
      backend.runInSession({ sessionId, language: "bash", code, timeoutMs });

    beforeAll(async () => {
      backend = await options.createBackend(SETTINGS);
    });
    afterAll(async () => {
      await backend?.close();
      expect(await options.listLeftovers()).toEqual([]);
      expect(unknownSections(options.sections, used)).toEqual([]);
    });

    section("execute", () => {
      it("runs hello world", async () => {
        const result = await run('print("hello world")');
        expect(result).toMatchObject({ stdout: "hello world\n", stderr: "", exitCode: 0, timedOut: false, files: [] });
        expect(result.durationMs).toBeGreaterThanOrEqual(0);
      });

      it("reports stdout, stderr and the exit code separately", async () => {
        const result = await run('import sys\nprint("out")\nprint("err", file=sys.stderr)\nsys.exit(3)');
        expect(result).toMatchObject({ stdout: "out\n", stderr: "err\n", exitCode: 3, timedOut: false });
      });

      it("feeds stdin to the code", async () => {
        const result = await run("import sys\nprint(sys.stdin.read().upper())", { stdin: "shout\nloud" });
        expect(result.stdout).toBe("SHOUT\nLOUD\n");
      });

      it("gives code without stdin an empty one", async () => {
        const result = await run("import sys\nprint(repr(sys.stdin.read()))");
        expect(result.stdout).toBe("''\n");
      });

      it("shows a bare last expression when last_line_interactive is on", async () => {
        const result = await run("x = 6*7\nx", { lastLineInteractive: true });
        expect(result.stdout).toBe("42\n");
        const none = await run("print('a')\nNone", { lastLineInteractive: true });
        expect(none.stdout).toBe("a\n");
      });

      it("does not show the last expression when last_line_interactive is off", async () => {
        const result = await run("x = 6*7\nx", { lastLineInteractive: false });
        expect(result.stdout).toBe("");
      });

      it("runs __name__ == '__main__' blocks and sees __main__.py as the script", async () => {
        const result = await run('import sys\nif __name__ == "__main__":\n    print(sys.argv[0])\n"done"', { lastLineInteractive: true });
        expect(result.stdout).toBe("__main__.py\n'done'\n");
      });

      it("reports syntax errors normally with last_line_interactive on", async () => {
        const result = await run("def broken(:\n  pass", { lastLineInteractive: true });
        expect(result.exitCode).not.toBe(0);
        expect(result.stderr).toContain("SyntaxError");
      });

      it("gives a traceback on stderr and a non-zero exit code for an exception", async () => {
        const result = await run("def f():\n    raise ValueError('boom')\nf()", { lastLineInteractive: true });
        expect(result.exitCode).toBe(1);
        expect(result.stderr).toContain("Traceback (most recent call last)");
        expect(result.stderr).toContain('File "__main__.py", line 3');
        expect(result.stderr).toContain("ValueError: boom");
        expect(result.stderr).not.toContain("<string>");
      });

      it("kills code that runs too long and reports timed_out with no exit code", async () => {
        const started = Date.now();
        // 3 s: long enough for Python to start and print on a loaded machine, far short of the sleep.
        const result = await run("import time\nprint('started', flush=True)\ntime.sleep(30)", { timeoutMs: 3000 });
        expect(result).toMatchObject({ timedOut: true, exitCode: null });
        expect(result.stdout).toBe("started\n");
        expect(Date.now() - started).toBeLessThan(15_000);
      });

      it("kills background processes the code started when it times out", async () => {
        const result = await run("import subprocess, time\nsubprocess.Popen(['sleep', '60'], start_new_session=True)\ntime.sleep(30)", {
          timeoutMs: 1000,
        });
        expect(result.timedOut).toBe(true);
      });

      it("cuts stdout and stderr at the output limit", async () => {
        const result = await run("import sys\nprint('x' * 10000)\nprint('y' * 10000, file=sys.stderr)");
        expect(result.stdout).toBe("x".repeat(SETTINGS.maxOutputBytes) + TRUNCATION_SUFFIX);
        expect(result.stderr).toBe("y".repeat(SETTINGS.maxOutputBytes) + TRUNCATION_SUFFIX);
        expect(result.exitCode).toBe(0);
      });

      it("streams output while the code runs", async () => {
        const chunks: OutputChunk[] = [];
        const result = await run("import sys, time\nprint('one')\ntime.sleep(0.3)\nprint('two', file=sys.stderr)", {
          onStdout: (data) => chunks.push({ stream: "stdout", data }),
          onStderr: (data) => chunks.push({ stream: "stderr", data }),
        });
        expect(result.exitCode).toBe(0);
        expect(
          chunks
            .filter((c) => c.stream === "stdout")
            .map((c) => c.data)
            .join(""),
        ).toBe("one\n");
        expect(
          chunks
            .filter((c) => c.stream === "stderr")
            .map((c) => c.data)
            .join(""),
        ).toBe("two\n");
      });

      it("stages files at their paths", async () => {
        const result = await run("print(open('data/in.txt').read())\nprint(open('top.csv').read())", {
          files: [
            { path: "data/in.txt", content: text("nested") },
            { path: "top.csv", content: text("a,b") },
          ],
        });
        expect(result.stdout).toBe("nested\na,b\n");
        expect(result.files).toEqual([]);
      });

      it("returns new and modified files, but not unchanged inputs or directories", async () => {
        const result = await run(
          "import os\nos.makedirs('out/empty', exist_ok=True)\nopen('out/new.txt', 'w').write('new')\nopen('edit.txt', 'a').write('+more')",
          {
            files: [
              { path: "edit.txt", content: text("base") },
              { path: "keep.txt", content: text("same") },
            ],
          },
        );
        expect(result.exitCode).toBe(0);
        expect(result.files.map((f) => [f.path, f.content.toString()])).toEqual([
          ["edit.txt", "base+more"],
          ["out/new.txt", "new"],
        ]);
      });

      it("hands new and modified files to onFile one at a time as they arrive, and returns none itself", async () => {
        const taken: [string, string][] = [];
        let busy = false;
        let overlapped = false;
        const result = await run(
          "import os\nos.makedirs('out', exist_ok=True)\nfor i in range(20): open(f'out/{i:02}.txt', 'w').write(str(i) * 1000)\nopen('edit.txt', 'a').write('+more')",
          {
            files: [
              { path: "edit.txt", content: text("base") },
              { path: "keep.txt", content: text("same") },
            ],
            onFile: async (file) => {
              overlapped ||= busy;
              busy = true;
              await new Promise((resolve) => setTimeout(resolve, 5));
              const content = await readContent(file.content);
              expect(content.length).toBe(file.size);
              taken.push([file.path, content.toString()]);
              busy = false;
            },
          },
        );
        expect(result.exitCode).toBe(0);
        expect(result.files).toEqual([]);
        expect(overlapped).toBe(false);
        expect(taken.sort()).toEqual([
          ["edit.txt", "base+more"],
          ...Array.from({ length: 20 }, (_, i): [string, string] => [`out/${String(i).padStart(2, "0")}.txt`, String(i).repeat(1000)]),
        ]);
      });

      it("round-trips binary files byte for byte", async () => {
        const bytes = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256));
        const result = await run(
          "data = open('in.bin', 'rb').read()\nopen('out.bin', 'wb').write(bytes(reversed(data)))\nprint(len(data))",
          { files: [{ path: "in.bin", content: bytes }] },
        );
        expect(result.stdout).toBe("1024\n");
        expect(result.files).toHaveLength(1);
        expect(result.files[0]?.content.equals(Buffer.from(bytes).reverse())).toBe(true);
      });

      it("never returns symlinks or fifos from the workspace as files", async () => {
        const result = await run("import os\nos.symlink('/etc/passwd', 'link')\nos.mkfifo('pipe')\nopen('real.txt','w').write('r')");
        expect(result.exitCode).toBe(0);
        expect(result.files.map((f) => f.path)).toEqual(["real.txt"]);
      });

      it("gives each execution a fresh workspace", async () => {
        await run("open('left.txt', 'w').write('x')");
        const result = await run("import os\nprint(sorted(os.listdir('.')))");
        expect(result.stdout).toBe("['__main__.py']\n");
      });
    });

    section("isolation", () => {
      // Each of these is a program whose whole stdout says whether the sandbox held.
      it.each([
        {
          what: "runs as an unprivileged user in /workspace",
          code: "import os\nprint(os.getuid(), os.getcwd())",
          stdout: "65532 /workspace\n",
        },
        {
          what: "cannot write outside the workspace and /tmp",
          code: "import os\nfor p in ['/etc/x', '/usr/x', '/x']:\n    try:\n        open(p, 'w')\n        print('wrote', p)\n    except OSError:\n        pass\nopen('/tmp/ok', 'w').write('fine')\nprint('done')",
          stdout: "done\n",
        },
        {
          what: "has no network",
          code: "import socket\ns = socket.socket()\ns.settimeout(2)\ntry:\n    s.connect(('1.1.1.1', 80))\n    print('connected')\nexcept OSError as e:\n    print('blocked')",
          stdout: "blocked\n",
        },
        {
          what: "contains a fork bomb",
          code: "import os\nn = 0\ntry:\n    while n < 100000:\n        if os.fork() == 0:\n            import time; time.sleep(30); os._exit(0)\n        n += 1\nexcept OSError:\n    print('limited')",
          stdout: "limited\n",
        },
      ])("$what", async ({ code, stdout }) => {
        expect((await run(code)).stdout).toBe(stdout);
      });

      it("contains a memory bomb", async () => {
        const result = await run(`b = bytearray(${SETTINGS.memoryLimitMb * 4} * 1024 * 1024)\nprint('allocated')`);
        expect(result.stdout).not.toContain("allocated");
        expect(result.exitCode).not.toBe(0);
      });

      it("does not pass the server's environment to code", async () => {
        process.env.CODE_INTERPRETER_CONTRACT_SECRET = "hunter2";
        const result = await run("import os\nprint(os.environ.get('CODE_INTERPRETER_CONTRACT_SECRET'))");
        delete process.env.CODE_INTERPRETER_CONTRACT_SECRET;
        expect(result.stdout).toBe("None\n");
      });
    });

    section("sessions", () => {
      const sessionTest = (name: string, body: () => Promise<void>) =>
        it(name, async (context) => {
          if (!backend.capabilities.sessions) context.skip();
          await body();
        });

      sessionTest("creates a session with staged files that bash can see", async () => {
        const session = await backend.createSession({ ttlSeconds: 300, files: [{ path: "in/data.txt", content: text("staged") }] });
        try {
          expect(session.id).toMatch(/^code-session-[0-9a-f-]{36}$/);
          expect(session.expiresAt).toBeGreaterThan(Date.now() / 1000 + 250);
          const result = await bashIn(session.id, "cat in/data.txt; pwd; id -u");
          expect(result).toMatchObject({ stdout: "staged/workspace\n65532\n", exitCode: 0, timedOut: false });
        } finally {
          await backend.deleteSession(session.id);
        }
      });

      sessionTest("keeps files on disk between calls and runs python too", async () => {
        const session = await backend.createSession({ ttlSeconds: 300, files: [] });
        try {
          const bash = (code: string) => backend.runInSession({ sessionId: session.id, language: "bash", code, timeoutMs: 10_000 });
          expect((await bash("echo 1 > counter; mkdir -p d && echo hi > d/f")).exitCode).toBe(0);
          expect((await bash("echo $(( $(cat counter) + 1 )) > counter; cat counter d/f")).stdout).toBe("2\nhi\n");
          const python = await backend.runInSession({
            sessionId: session.id,
            language: "python",
            code: "n = int(open('counter').read())\nn * 10",
            timeoutMs: 10_000,
          });
          expect(python).toMatchObject({ stdout: "20\n", exitCode: 0 });
          const files = await backend.readSessionFiles(session.id);
          expect(files.map((f) => f.path).sort()).toEqual(["counter", "d/f"]);
          // Handed over one at a time instead, none returned: what the session file routes use.
          const taken: [string, string][] = [];
          const onFile = async (f: WorkspaceFileStream) => void taken.push([f.path, (await readContent(f.content)).toString()]);
          expect(await backend.readSessionFiles(session.id, { onFile })).toEqual([]);
          expect(taken.sort()).toEqual([
            ["counter", "2\n"],
            ["d/f", "hi\n"],
          ]);
        } finally {
          await backend.deleteSession(session.id);
        }
      });

      sessionTest("reports exit codes, stderr and timeouts of session commands", async () => {
        const session = await backend.createSession({ ttlSeconds: 300, files: [] });
        try {
          const failed = await bashIn(session.id, "echo oops >&2; exit 4");
          expect(failed).toMatchObject({ stderr: "oops\n", exitCode: 4, timedOut: false });
          const slow = await bashIn(session.id, "echo begin; sleep 30", 1000);
          expect(slow).toMatchObject({ stdout: "begin\n", exitCode: null, timedOut: true });
          const after = await backend.runInSession({ sessionId: session.id, language: "bash", code: "echo alive", timeoutMs: 10_000 });
          expect(after.stdout).toBe("alive\n");
        } finally {
          await backend.deleteSession(session.id);
        }
      });

      sessionTest("deletes a session, after which it is gone", async () => {
        const session = await backend.createSession({ ttlSeconds: 300, files: [] });
        expect((await backend.listSessions()).map((s) => s.id)).toContain(session.id);
        await backend.deleteSession(session.id);
        expect((await backend.listSessions()).map((s) => s.id)).not.toContain(session.id);
        await expect(backend.deleteSession(session.id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
        await expect(backend.runInSession({ sessionId: session.id, language: "bash", code: "true", timeoutMs: 1000 })).rejects.toSatisfy(
          (error) => SessionNotFoundError.isInstance(error),
        );
      });

      sessionTest("refuses unknown and non-session ids", async () => {
        for (const id of ["code-session-00000000-0000-0000-0000-000000000000", "code-exec-1", "not-ours", "../etc", ""]) {
          await expect(backend.deleteSession(id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
          await expect(backend.getSession(id)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
        }
      });

      sessionTest("extends a session's expiry on keepalive", async () => {
        const session = await backend.createSession({ ttlSeconds: 60, files: [] });
        try {
          const extended = await backend.extendSession(session.id, 600);
          expect(extended.expiresAt).toBeGreaterThanOrEqual(session.expiresAt + 500);
          expect((await backend.getSession(session.id)).expiresAt).toBe(extended.expiresAt);
        } finally {
          await backend.deleteSession(session.id);
        }
      });

      sessionTest("runs a session's concurrent commands one at a time, never interleaved", async () => {
        const session = await backend.createSession({ ttlSeconds: 300, files: [] });
        try {
          const writer = (tag: string) => bashIn(session.id, `for i in 1 2 3 4 5; do echo ${tag}$i >> log.txt; sleep 0.05; done`, 20_000);
          const results = await Promise.all([writer("a"), writer("b"), writer("c")]);
          expect(results.map((result) => result.exitCode)).toEqual([0, 0, 0]);
          const log = await backend.runInSession({ sessionId: session.id, language: "bash", code: "cat log.txt", timeoutMs: 10_000 });
          const runs = log.stdout
            .trim()
            .split("\n")
            .join("")
            .match(/(a1a2a3a4a5|b1b2b3b4b5|c1c2c3c4c5)/g);
          expect(runs?.sort()).toEqual(["a1a2a3a4a5", "b1b2b3b4b5", "c1c2c3c4c5"]);
        } finally {
          await backend.deleteSession(session.id);
        }
      });

      sessionTest("keeps the tenant a session was created for, through keepalive and listing", async () => {
        const owned = await backend.createSession({ ttlSeconds: 300, files: [], tenant: "acme" });
        const unowned = await backend.createSession({ ttlSeconds: 300, files: [] });
        try {
          expect(owned.tenant).toBe("acme");
          expect((await backend.getSession(owned.id)).tenant).toBe("acme");
          expect((await backend.extendSession(owned.id, 600)).tenant).toBe("acme");
          expect((await backend.getSession(owned.id)).tenant).toBe("acme");
          const listed = await backend.listSessions();
          expect(listed.find((session) => session.id === owned.id)?.tenant).toBe("acme");
          expect(listed.find((session) => session.id === unowned.id)).not.toHaveProperty("tenant");
          expect(await backend.getSession(unowned.id)).not.toHaveProperty("tenant");
        } finally {
          await backend.deleteSession(owned.id);
          await backend.deleteSession(unowned.id);
        }
      });

      sessionTest("reaps sessions whose TTL has passed and keeps the others", async () => {
        const short = await backend.createSession({ ttlSeconds: 1, files: [] });
        const long = await backend.createSession({ ttlSeconds: 300, files: [] });
        try {
          await new Promise((resolve) => setTimeout(resolve, 2100));
          const reaped = await backend.reapExpiredSessions();
          expect(reaped).toContain(short.id);
          expect(reaped).not.toContain(long.id);
          const ids = (await backend.listSessions()).map((s) => s.id);
          expect(ids).not.toContain(short.id);
          expect(ids).toContain(long.id);
        } finally {
          await backend.deleteSession(long.id);
        }
      });
    });

    section("stateful Python sessions", () => {
      const kernelTest = (name: string, body: (sessionId: string, skip: (why: string) => void) => Promise<void>) =>
        it(name, async (context) => {
          if (!backend.capabilities.statefulPython) context.skip();
          const session = await backend.createSession({ ttlSeconds: 300, files: [] });
          try {
            await body(session.id, (why) => context.skip(why));
          } finally {
            await backend.deleteSession(session.id);
          }
        });
      const python = (sessionId: string, code: string, timeoutMs = 10_000) =>
        backend.runInSession({ sessionId, language: "python", code, timeoutMs });

      kernelTest("keeps variables, imports and functions between calls, like a notebook", async (id) => {
        expect(await python(id, "import json\ncount = 41\ndef bump(n):\n    return n + 1")).toMatchObject({ stdout: "", exitCode: 0 });
        expect(await python(id, "json.dumps(bump(count))")).toMatchObject({ stdout: "'42'\n", exitCode: 0 });
      });

      kernelTest("shares the workspace with bash", async (id) => {
        await python(id, "open('from-python.txt', 'w').write('py')");
        const bash = await bashIn(id, "cat from-python.txt; echo sh > from-bash.txt");
        expect(bash.stdout).toBe("py");
        expect((await python(id, "open('from-bash.txt').read()")).stdout).toBe("'sh\\n'\n");
      });

      kernelTest("interrupts a call at its timeout and keeps the session's state", async (id) => {
        await python(id, "kept = 'yes'");
        const slow = await python(id, "import time\nprint('begin', flush=True)\ntime.sleep(30)", 800);
        expect(slow).toMatchObject({ stdout: "begin\n", timedOut: true, exitCode: null });
        expect((await python(id, "kept")).stdout).toBe("'yes'\n");
      });

      kernelTest("restarts the interpreter, and says so, when the code will not stop", async (id) => {
        await python(id, "kept = 1");
        const stuck = await python(id, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", 500);
        expect(stuck).toMatchObject({ timedOut: true, exitCode: null });
        expect(stuck.stderr).toContain("restarted");
        const after = await python(id, "'kept' in globals()");
        expect(after).toMatchObject({ stdout: "False\n", exitCode: 0 });
      });

      kernelTest("keeps what a call wrote just before os._exit, and says its interpreter ended", async (id) => {
        await python(id, "kept = 1");
        const ended = await python(id, "import os, sys\nprint('last words')\nsys.stderr.write('and errors\\n')\nos._exit(3)");
        expect(ended).toMatchObject({ stdout: "last words\n", exitCode: 3 });
        expect(ended.stderr).toContain("and errors\n");
        expect(ended.stderr).toContain("os._exit(3)");
        expect((await python(id, "'kept' in globals()")).stdout).toBe("False\n");
      });

      // Every backend has matplotlib: the sandbox environment declares it (see "sandbox environment" below).
      kernelTest("returns matplotlib figures made in a call as PNG files", async (id) => {
        const result = await python(id, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nprint('plotted')");
        expect(result).toMatchObject({ stdout: "plotted\n", exitCode: 0 });
        expect(result.files?.map((file) => file.path)).toHaveLength(1);
        expect(result.files?.[0]?.content.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
        expect((await python(id, "plt.get_fignums()")).stdout).toBe("[]\n");
      });
    });

    section("cleanup", () => {
      it("leaves no sandbox behind after executions", async () => {
        await run("print('x')");
        await run("import time\ntime.sleep(5)", { timeoutMs: 500 });
        expect(await options.listLeftovers()).toEqual([]);
      });

      it("stops and removes the sandbox when the caller aborts", async () => {
        const controller = new AbortController();
        const pending = run("import time\ntime.sleep(30)", { signal: controller.signal, timeoutMs: 30_000 });
        setTimeout(() => controller.abort(), 500);
        await expect(pending).rejects.toThrow();
        expect(await options.listLeftovers()).toEqual([]);
      });
    });

    describeSandboxEnvironment(run, section);
    describeRichResults(run, () => backend, section);

    options.additionalTests?.(() => backend);
  });
}
