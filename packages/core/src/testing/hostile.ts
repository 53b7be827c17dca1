import { randomBytes, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend, ExecuteOptions, ExecutionResult } from "../backend.js";
import { TRUNCATION_SUFFIX } from "../truncate-output.js";
import { validateWorkspacePath } from "../workspace-path.js";
import * as code from "./hostile-code.js";

export { HOSTILE_MARKER } from "./hostile-code.js";

/** Settings the hostile suite builds the backend with: small, so limits are reached fast. */
export interface HostileSettings {
  /** MAX_OUTPUT_BYTES. */
  maxOutputBytes: number;
  /** MEMORY_LIMIT_MB. */
  memoryLimitMb: number;
  /** Size of the tmpfs `/workspace` and `/tmp` (and the file-size limit). */
  workspaceSizeMb: number;
  /** Processes and threads per sandbox. */
  maxProcesses: number;
}

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
   * The sandboxes run on this machine, so processes that escaped one would
   * show in this host's /proc: each test also checks that none of the code's
   * marked processes survive it. @default false
   */
  sameHost?: boolean;
}

/** The settings the suite uses. */
export const HOSTILE_SETTINGS: HostileSettings = { maxOutputBytes: 4096, memoryLimitMb: 256, workspaceSizeMb: 16, maxProcesses: 64 };

/** The most files a workspace snapshot returns (the runner's cap). */
export const MAX_SNAPSHOT_FILES = 10_000;

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
  const used = new Set<string>();

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
      // A gap naming no test is a typo that would hide nothing: refuse it.
      expect(Object.keys(gaps).filter((name) => !used.has(name))).toEqual([]);
    });

    /** The backend still answers a trivial execution, and nothing of the test is left. */
    const expectHealthy = async () => {
      const answer = await run("print(1)", { signal: AbortSignal.timeout(20_000) });
      expect(answer).toMatchObject({ stdout: "1\n", exitCode: 0, timedOut: false });
      expect(await options.listLeftovers()).toEqual([]);
      if (options.sameHost) expect(await markedHostProcesses()).toEqual([]);
    };

    const hostile = (name: string, body: () => Promise<void>, timeout?: number) => {
      used.add(name);
      const reason = gaps[name];
      if (reason === undefined) {
        it(
          name,
          async () => {
            await body();
            await expectHealthy();
          },
          timeout,
        );
        return;
      }
      it(
        `${name} [known gap: ${reason}]`,
        async () => {
          let held = true;
          try {
            await body();
          } catch {
            held = false;
          }
          await expectHealthy();
          if (held) throw new Error(`"${name}" is listed as a gap of ${options.name} but the control held: remove it from gaps`);
        },
        timeout,
      );
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

    describe("resource exhaustion", () => {
      hostile("contains a fork bomb", async () => {
        const result = await run(code.FORK_BOMB, { timeoutMs: 3000 });
        expect(result).toMatchObject({ timedOut: true, exitCode: null });
      });

      hostile("contains a thread bomb", async () => {
        const result = await run(code.THREAD_BOMB);
        expect(result.stdout).toBe("limited\n");
      });

      hostile("contains a memory bomb", async () => {
        const result = await run(code.MEMORY_BOMB(settings.memoryLimitMb * 4));
        expect(result.stdout).not.toContain("survived");
        expect(result.exitCode).not.toBe(0);
      });

      hostile("stops a CPU spin at its timeout", async () => {
        const result = await run(code.CPU_SPIN, { timeoutMs: 1500 });
        expect(result).toMatchObject({ stdout: "spinning\n", timedOut: true, exitCode: null });
      });

      hostile("stops sleeps and blocking reads at their timeout", async () => {
        const result = await run(code.STALLS, { timeoutMs: 1000 });
        expect(result).toMatchObject({ stdout: "stalling\n", timedOut: true, exitCode: null });
      });

      hostile("gives input() end-of-file instead of blocking", async () => {
        const result = await run(code.BLOCKING_INPUT, { timeoutMs: 5000 });
        expect(result).toMatchObject({ timedOut: false, exitCode: 1 });
        expect(result.stderr).toContain("EOFError");
      });

      for (const dir of ["/workspace", "/tmp"]) {
        hostile(`stops a disk fill of ${dir} at its size`, async () => {
          const result = await run(code.FILL_DISK(dir, settings.workspaceSizeMb, dir === "/workspace"));
          expect(result.stdout).toBe("ENOSPC True\n");
          const total = result.files.reduce((sum, file) => sum + file.content.length, 0);
          expect(total).toBeLessThanOrEqual(settings.workspaceSizeMb * 2 ** 20);
        });

        hostile(
          `limits the inodes of ${dir}`,
          async () => {
            const result = await run(code.FILL_INODES(dir, 200_000), { timeoutMs: 30_000 });
            expect(result).toMatchObject({ stdout: "ENOSPC\n", timedOut: false });
          },
          120_000,
        );
      }

      hostile("stops /dev/shm at a size", async () => {
        // Docker's default /dev/shm is 64 MiB; anything up to that, or no /dev/shm at all, is bounded.
        const result = await run(code.FILL_DISK("/dev/shm", 64, false));
        expect(result.stdout).toMatch(/^(ENOSPC|ENOENT|EACCES|EROFS) True\n$/);
      });

      hostile("limits open files", async () => {
        const result = await run(code.FD_EXHAUSTION);
        expect(result.stdout).toBe("limited True\n");
      });

      const floods = [
        [1, "lines"],
        [1, "no-newlines"],
        [1, "binary"],
        [2, "lines"],
        [2, "no-newlines"],
        [2, "binary"],
      ] as const;
      for (const [stream, kind] of floods) {
        const name = stream === 1 ? "stdout" : "stderr";
        hostile(`cuts a ${kind} flood on ${name} at the output limit`, async () => {
          let streamed = 0;
          const result = await run(code.FLOOD(stream, kind, 32), {
            timeoutMs: 20_000,
            onOutput: (chunk) => {
              streamed += chunk.data.length;
            },
          });
          // Streaming stops at the limit too.
          expect(streamed).toBeLessThanOrEqual(settings.maxOutputBytes);
          expect(result).toMatchObject({ exitCode: 0, timedOut: false });
          const text = result[name];
          expect(text.endsWith(TRUNCATION_SUFFIX)).toBe(true);
          expect(text.length).toBeLessThanOrEqual(settings.maxOutputBytes + TRUNCATION_SUFFIX.length);
          expect(result[stream === 1 ? "stderr" : "stdout"]).toBe("");
        });
      }

      hostile("ends code that stops its own process group at the timeout", async () => {
        const result = await run(code.STOP_OWN_GROUP, { timeoutMs: 1500 });
        expect(result).toMatchObject({ stdout: "stopping\n", timedOut: true, exitCode: null });
      });

      hostile("ends an execution whose code leaves zombies, orphans and daemons, and kills them", async () => {
        const result = await run(code.ORPHANS_AND_DAEMONS, { timeoutMs: 20_000 });
        expect(result).toMatchObject({ stdout: "left them\n", exitCode: 0, timedOut: false });
      });

      hostile("ends an execution promptly when a child keeps the output pipe open", async () => {
        const result = await run(code.CHILD_HOLDS_PIPE, { timeoutMs: 20_000 });
        expect(result).toMatchObject({ stdout: "parent done\n", exitCode: 0, timedOut: false });
      });

      hostile("answers code that signals its runner and every process it can", async () => {
        const result = await run(code.SIGNAL_EVERYONE, { timeoutMs: 5000 });
        expect(result).toMatchObject({ stdout: "still here\n", exitCode: 0, timedOut: false });
      });

      hostile("does not let a fork bomb in one sandbox starve another", async () => {
        let started: () => void = () => {};
        const bombing = new Promise<void>((resolve) => {
          started = resolve;
        });
        const bomb = run(code.ANNOUNCED_FORK_BOMB, {
          timeoutMs: 6000,
          onOutput: (chunk) => {
            if (chunk.data.includes("bombing")) started();
          },
        });
        await Promise.race([bombing, bomb]);
        const neighbour = await run(code.SPAWN_SOME);
        expect(neighbour).toMatchObject({ stdout: "spawned\n", exitCode: 0 });
        expect(await bomb).toMatchObject({ timedOut: true });
      });

      hostile("does not let a daemon a session command detached outlive the command", async () => {
        await withSession(async (id) => {
          const python = await backend.runInSession({ sessionId: id, language: "python", code: code.DAEMONISE, timeoutMs: 10_000 });
          expect(python.stdout).toBe("daemonised\n");
          const detached = await bash(
            id,
            `setsid bash -c 'exec -a ${code.HOSTILE_MARKER} sleep 300' </dev/null >/dev/null 2>&1 & echo detached`,
          );
          expect(detached.stdout).toBe("detached\n");
          // Looked for from bash and from the session's Python, which may live in different sandboxes.
          const look = await bash(
            id,
            `grep -l ${code.HOSTILE_MARKER.replace("stray", "[s]tray")} /proc/[0-9]*/cmdline 2>/dev/null || echo none`,
          );
          expect(look.stdout).toBe("none\n");
          const lookFromPython = await backend.runInSession({
            sessionId: id,
            language: "python",
            code: code.LOOK_FOR_TRACES("none"),
            timeoutMs: 10_000,
          });
          expect(lookFromPython.stdout).toBe("done\n");
        });
      });

      hostile("keeps a session usable after its code signals every process it can", async () => {
        await withSession(async (id) => {
          // Whatever those calls answer (the signals may end their own runner), the session must answer afterwards.
          await backend.runInSession({ sessionId: id, language: "python", code: code.SIGNAL_EVERYONE, timeoutMs: 5000 }).catch(() => {});
          await bash(id, `python3 - <<'EOF'\n${code.SIGNAL_EVERYONE}EOF`, 5000).catch(() => {});
          expect(await bash(id, "echo alive")).toMatchObject({ stdout: "alive\n", exitCode: 0 });
          expect(
            await backend.runInSession({ sessionId: id, language: "python", code: "print('alive')", timeoutMs: 10_000 }),
          ).toMatchObject({
            stdout: "alive\n",
          });
        });
      });

      hostile("keeps a session usable after a fork bomb in one of its commands", async () => {
        await withSession(async (id) => {
          // Whatever the bomb's own answer, the session must answer afterwards.
          await bash(id, ":(){ :|:& };:; sleep 5", 3000);
          expect(await bash(id, "echo alive")).toMatchObject({ stdout: "alive\n", exitCode: 0 });
          expect(
            await backend.runInSession({ sessionId: id, language: "python", code: "print('alive')", timeoutMs: 10_000 }),
          ).toMatchObject({
            stdout: "alive\n",
          });
        });
      });

      hostile("ends a session command whose background process keeps the pipe open, and kills it", async () => {
        await withSession(async (id) => {
          const result = await bash(id, `(exec -a ${code.HOSTILE_MARKER} sleep 300) & echo started`, 20_000);
          expect(result).toMatchObject({ stdout: "started\n", exitCode: 0, timedOut: false });
          expect(
            (await bash(id, `grep -l ${code.HOSTILE_MARKER.replace("stray", "[s]tray")} /proc/[0-9]*/cmdline 2>/dev/null || echo none`))
              .stdout,
          ).toBe("none\n");
        });
      });
    });

    describe("escape and isolation", () => {
      let listener: Server;
      let port = 0;
      let connections = 0;
      beforeAll(async () => {
        listener = createServer((socket) => {
          connections += 1;
          socket.destroy();
        });
        await new Promise<void>((resolve) => listener.listen(0, "0.0.0.0", resolve));
        port = (listener.address() as { port: number }).port;
      });
      afterAll(() => new Promise<void>((resolve) => listener.close(() => resolve())));

      hostile("cannot reach the host, its loopback or the cloud metadata service", async () => {
        const hostAddresses = Object.values(networkInterfaces())
          .flat()
          .filter((address) => address && address.family === "IPv4")
          .map((address) => address?.address as string);
        const targets: [string, number][] = [
          ["127.0.0.1", port],
          ...hostAddresses.map((address): [string, number] => [address, port]),
          ["169.254.169.254", 80],
          ["172.17.0.1", 2375],
        ];
        const result = await run(code.CONNECT(targets), { timeoutMs: 30_000 });
        expect(result.stdout).not.toContain("connected");
        expect(result.stdout.trim().split("\n")).toHaveLength(targets.length);
        expect(connections).toBe(0);
      });

      hostile("cannot resolve names", async () => {
        const result = await run(code.DNS_LOOKUP, { timeoutMs: 30_000 });
        expect(result.stdout).toBe("done\n");
      });

      hostile("cannot see the container engine's or the cluster's sockets and credentials", async () => {
        const result = await run(code.ENGINE_SOCKETS);
        expect(result.stdout).toBe("done\n");
      });

      const privileges = async () => {
        const result = await run(code.PRIVILEGES);
        return Object.fromEntries(
          result.stdout
            .trim()
            .split("\n")
            .map((line) => [line.split(" ")[0], line.slice(line.indexOf(" ") + 1)]),
        );
      };

      hostile("runs as uid and gid 65532", async () => {
        expect(await privileges()).toMatchObject({ Uid: "65532 65532 65532 65532", Gid: "65532 65532 65532 65532" });
      });

      hostile("has no capabilities", async () => {
        expect(await privileges()).toMatchObject({ CapEff: "0000000000000000", CapPrm: "0000000000000000", CapAmb: "0000000000000000" });
      });

      hostile("cannot gain privileges (no_new_privs)", async () => {
        expect((await privileges()).NoNewPrivs).toBe("1");
      });

      hostile("runs under a seccomp filter", async () => {
        expect((await privileges()).Seccomp).toBe("2");
      });

      for (const [syscall, source] of Object.entries(code.DANGEROUS_SYSCALLS)) {
        hostile(`is refused the ${syscall} syscall`, async () => {
          const result = await run(source);
          expect(result.stderr).toBe("");
          expect(result.stdout).toMatch(new RegExp(`^${syscall} E[A-Z]+\\n$`));
        });
      }

      hostile("sees no secret of the server in its environment or /proc", async () => {
        const result = await run(code.FIND_SECRET(SECRET));
        expect(result.stdout).toBe("done\n");
      });

      hostile("cannot write to the root filesystem", async () => {
        const result = await run(code.WRITE_ROOT);
        expect(result.stdout).toBe("done\n");
      });

      hostile("cannot inject terminal input", async () => {
        const result = await run(code.TERMINAL_INJECTION);
        expect(result.stdout).toBe("done\n");
      });

      hostile("shares no files, shared memory, sockets or processes between two sandboxes", async () => {
        const tag = randomUUID().slice(0, 8);
        let ready: () => void = () => {};
        const traced = new Promise<void>((resolve) => {
          ready = resolve;
        });
        const controller = new AbortController();
        const first = run(code.LEAVE_TRACES(tag), {
          timeoutMs: 30_000,
          signal: controller.signal,
          onOutput: (chunk) => {
            if (chunk.data.includes("traces left")) ready();
          },
        });
        try {
          await Promise.race([traced, first]);
          const second = await run(code.LOOK_FOR_TRACES(tag));
          expect(second.stdout).toBe("done\n");
        } finally {
          controller.abort();
          await first.catch(() => {});
        }
      });

      hostile("shares no files, shared memory, sockets or processes between two sessions", async () => {
        const tag = randomUUID().slice(0, 8);
        await withSession(async (first) => {
          await withSession(async (second) => {
            await backend.runInSession({
              sessionId: first,
              language: "python",
              code: code.LEAVE_TRACES(tag).replace("time.sleep(20)", ""),
              timeoutMs: 10_000,
            });
            // A detached process, where the backend lets one outlive its command, must not be visible either.
            await bash(first, `setsid bash -c 'exec -a ${code.HOSTILE_MARKER} sleep 300' </dev/null >/dev/null 2>&1 &`);
            const seen = await backend.runInSession({
              sessionId: second,
              language: "python",
              code: code.LOOK_FOR_TRACES(tag),
              timeoutMs: 10_000,
            });
            expect(seen.stdout).toBe("done\n");
          });
        });
      });

      hostile("reads a session workspace larger than the snapshot limit, cut at the limit", async () => {
        await withSession(async (id) => {
          const size = settings.workspaceSizeMb * 2 ** 20 - 4096;
          const made = await bash(id, `for n in 1 2 3; do truncate -s ${size} sparse-$n.bin; done; echo ok`);
          expect(made.stdout).toBe("ok\n");
          const files = await backend.readSessionFiles(id);
          expect(files.reduce((sum, file) => sum + file.content.length, 0)).toBeLessThanOrEqual(settings.workspaceSizeMb * 2 ** 20);
        });
      });

      hostile("never follows a link swapped in while the session workspace is read", async () => {
        await withSession(async (id) => {
          const started = await backend.runInSession({
            sessionId: id,
            language: "python",
            code: code.SWAP_LINKS_DAEMON,
            timeoutMs: 10_000,
          });
          expect(started.stdout).toBe("swapping\n");
          for (let round = 0; round < 5; round++) {
            const files = await backend.readSessionFiles(id);
            for (const file of files) expect(file.content.toString()).toMatch(/^(regular)?$/);
          }
        });
      });

      hostile("never reads or writes through links a session planted", async () => {
        await withSession(async (id) => {
          const planted = await bash(
            id,
            "ln -s /etc/passwd passwd; ln -s /proc/1/environ environ; ln -s / root; ln -s /etc etc; echo plain > plain.txt; echo ok",
          );
          expect(planted.stdout).toBe("ok\n");
          const files = await backend.readSessionFiles(id);
          expect(files.map((file) => file.path)).toEqual(["plain.txt"]);
          const passwd = await readFile("/etc/passwd").catch(() => Buffer.alloc(0));
          expect(files.every((file) => !file.content.includes(passwd))).toBe(true);
        });
        // Deleting the session removed the links, not what they pointed to.
        await expect(readFile("/etc/passwd")).resolves.toBeDefined();
      });
    });

    describe("files", () => {
      hostile("skips symlinks, hardlinks, fifos, sockets and devices in the snapshot without hanging", async () => {
        const result = await run(code.SPECIAL_FILES, { timeoutMs: 20_000 });
        expect(result).toMatchObject({ stdout: "planted\n", exitCode: 0, timedOut: false });
        expect(result.files.map((file) => [file.path, file.content.toString()])).toEqual([["real.txt", "real"]]);
      });

      hostile("never reads a huge sparse file into the snapshot", async () => {
        const result = await run(code.SPARSE_FILES(settings.workspaceSizeMb), { timeoutMs: 20_000 });
        expect(result).toMatchObject({ exitCode: 0, timedOut: false });
        expect(result.stdout).toMatch(/^refused .+\ndone\n$/);
        const total = result.files.reduce((sum, file) => sum + file.content.length, 0);
        expect(total).toBeLessThanOrEqual(settings.workspaceSizeMb * 2 ** 20);
        // The refused truncate leaves huge.bin empty; a backend that allowed it must not have read it.
        expect(result.files.find((file) => file.path === "huge.bin")?.content.length ?? 0).toBe(0);
      });

      hostile(
        "answers for 100,000 small files with a bounded snapshot",
        async () => {
          const result = await run(code.MANY_FILES(100_000), { timeoutMs: 60_000 });
          expect(result).toMatchObject({ exitCode: 0, timedOut: false });
          // Made all, or stopped by the filesystem's inode limit; at most MAX_SNAPSHOT_FILES come back.
          expect(result.stdout).toMatch(/^(stopped No space left on device\n)?made \d+\n$/);
          expect(result.files.length).toBeGreaterThan(0);
          expect(result.files.length).toBeLessThanOrEqual(MAX_SNAPSHOT_FILES);
        },
        150_000,
      );

      hostile("answers for a tree 1000 directories deep", async () => {
        const result = await run(code.DEEP_TREE(1000), { timeoutMs: 30_000 });
        expect(result).toMatchObject({ stdout: "built\n", exitCode: 0, timedOut: false });
        expect(result.files.map((file) => file.path)).toEqual([`${"d/".repeat(1000)}bottom.txt`]);
      });

      hostile("answers for a tree deeper than PATH_MAX", async () => {
        const result = await run(code.DEEP_TREE(2500), { timeoutMs: 30_000 });
        expect(result).toMatchObject({ stdout: "built\n", exitCode: 0, timedOut: false });
        expect(result.files).toEqual([]);
      });

      hostile("returns files with hostile names under valid paths", async () => {
        const result = await run(code.HOSTILE_NAMES);
        expect(result).toMatchObject({ stdout: "10\n", exitCode: 0 });
        for (const file of result.files) {
          expect(validateWorkspacePath(file.path)).toBe(file.path);
          expect(file.content.toString()).toBe("ok");
        }
        // A name that is not UTF-8 is left out: it has no faithful path, and two such names would come back as one.
        expect(result.files.map((file) => file.path).sort()).toEqual(
          ["new\nline.txt", "bidi-\u202etxt.exe", "x".repeat(255), "tab\tand space.txt", "-dash.txt", "émoji-😀.txt"].sort(),
        );
      });

      hostile("round-trips a binary file byte for byte", async () => {
        const input = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, index) => index)), randomBytes(3 * 2 ** 20)]);
        const result = await run(code.COPY_BINARY, { files: [{ path: "in/input.bin", content: input }] });
        expect(result.stdout).toBe(`${input.length}\n`);
        expect(result.files.map((file) => file.path)).toEqual(["out/output.bin"]);
        expect(result.files[0]?.content.equals(input)).toBe(true);
      });
    });
  });
}

/** Processes on this host whose command line carries the hostile suite's marker. */
export async function markedHostProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const commandLine = await readFile(`/proc/${pid}/cmdline`, "utf8");
      if (commandLine.startsWith(code.HOSTILE_MARKER)) found.push(`${pid} ${commandLine.replaceAll("\0", " ").trim()}`);
    } catch {
      // it ended while we looked
    }
  }
  return found;
}
