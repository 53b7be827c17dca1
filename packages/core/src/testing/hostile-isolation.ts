import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, expect } from "vitest";
import * as code from "./hostile-code.js";
import type { HostileContext } from "./hostile-context.js";

/** The titles of the tests, one per dangerous syscall, that the sandbox's syscall policy must refuse. */
export const SYSCALL_TESTS: readonly string[] = Object.keys(code.DANGEROUS_SYSCALLS).map((syscall) => `is refused the ${syscall} syscall`);

/** Escape and isolation: network, privileges, syscalls, secrets, leaks between sandboxes and sessions, planted links. */
export function describeIsolation({ hostile, run, bash, withSession, backend, settings, secret }: HostileContext): void {
  let listener: Server;
  let port = 0;
  let connections = 0;
  beforeAll(async () => {
    listener = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    // On every interface, for the few seconds of this group: the sandbox tries the host's own addresses too.
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

  for (const [syscall, { errno, source }] of Object.entries(code.DANGEROUS_SYSCALLS)) {
    hostile(`is refused the ${syscall} syscall`, async () => {
      const result = await run(source);
      expect(result.stderr).toBe("");
      expect(result.stdout).toBe(`${syscall} ${errno}\n`);
    });
  }

  hostile(
    "runs a session's commands and Python cells under the seccomp filter",
    async () => {
      // A session's runners are started by exec, where a runtime may not hand them the sandbox's filter (runsc):
      // what they run must be under it all the same.
      await withSession(async (id) => {
        const command = await bash(id, "grep '^Seccomp:' /proc/self/status");
        expect(command.stdout).toBe("Seccomp:\t2\n");
        const cell = await backend().runInSession({
          sessionId: id,
          language: "python",
          code: "print([line for line in open('/proc/self/status') if line.startswith('Seccomp:')])",
          timeoutMs: 10_000,
        });
        expect(cell.stdout).toBe("['Seccomp:\\t2\\n']\n");
      });
    },
    { sessions: true },
  );

  hostile(
    "is refused ptrace of a session's pid 1 and of its runner",
    async () => {
      await withSession(async (id) => {
        for (const name of ["ptrace(pid 1)", "ptrace"]) {
          const { errno, source } = code.DANGEROUS_SYSCALLS[name] as { errno: string; source: string };
          const result = await backend().runInSession({ sessionId: id, language: "python", code: source, timeoutMs: 10_000 });
          expect(result.stdout).toBe(`${name} ${errno}\n`);
        }
      });
    },
    { sessions: true },
  );

  hostile("still runs threads, processes and AF_UNIX and AF_INET sockets under the syscall policy", async () => {
    const result = await run(code.ALLOWED_SYSCALLS);
    expect(result).toMatchObject({ stdout: "42\n", stderr: "", exitCode: 0 });
  });

  hostile("sees no secret of the server in its environment or /proc", async () => {
    const result = await run(code.FIND_SECRET(secret));
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
      onStdout: (data) => {
        if (data.includes("traces left")) ready();
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

  hostile(
    "shares no files, shared memory, sockets or processes between two sessions",
    async () => {
      const tag = randomUUID().slice(0, 8);
      await withSession(async (first) => {
        await withSession(async (second) => {
          await backend().runInSession({
            sessionId: first,
            language: "python",
            code: code.LEAVE_TRACES(tag).replace("time.sleep(20)", ""),
            timeoutMs: 10_000,
          });
          // A detached process, where the backend lets one outlive its command, must not be visible either.
          await bash(first, `setsid bash -c 'exec -a ${code.HOSTILE_MARKER} sleep 300' </dev/null >/dev/null 2>&1 &`);
          const seen = await backend().runInSession({
            sessionId: second,
            language: "python",
            code: code.LOOK_FOR_TRACES(tag),
            timeoutMs: 10_000,
          });
          expect(seen.stdout).toBe("done\n");
        });
      });
    },
    { sessions: true },
  );

  hostile(
    "reads a session workspace larger than the snapshot limit, cut at the limit",
    async () => {
      await withSession(async (id) => {
        const size = settings.workspaceSizeMb * 2 ** 20 - 4096;
        const made = await bash(id, `for n in 1 2 3; do truncate -s ${size} sparse-$n.bin; done; echo ok`);
        expect(made.stdout).toBe("ok\n");
        const files = await backend().readSessionFiles(id);
        expect(files.reduce((sum, file) => sum + file.content.length, 0)).toBeLessThanOrEqual(settings.workspaceSizeMb * 2 ** 20);
      });
    },
    { sessions: true },
  );

  hostile(
    "never follows a link swapped in while the session workspace is read",
    async () => {
      await withSession(async (id) => {
        const started = await backend().runInSession({
          sessionId: id,
          language: "python",
          code: code.SWAP_LINKS_DAEMON,
          timeoutMs: 10_000,
        });
        expect(started.stdout).toBe("swapping\n");
        for (let round = 0; round < 5; round++) {
          const files = await backend().readSessionFiles(id);
          for (const file of files) expect(file.content.toString()).toMatch(/^(regular)?$/);
        }
      });
    },
    { sessions: true },
  );

  hostile(
    "never reads or writes through links a session planted",
    async () => {
      await withSession(async (id) => {
        const planted = await bash(
          id,
          "ln -s /etc/passwd passwd; ln -s /proc/1/environ environ; ln -s / root; ln -s /etc etc; echo plain > plain.txt; echo ok",
        );
        expect(planted.stdout).toBe("ok\n");
        const files = await backend().readSessionFiles(id);
        expect(files.map((file) => file.path)).toEqual(["plain.txt"]);
        const passwd = await readFile("/etc/passwd").catch(() => Buffer.alloc(0));
        expect(files.every((file) => !file.content.includes(passwd))).toBe(true);
      });
      // Deleting the session removed the links, not what they pointed to.
      await expect(readFile("/etc/passwd")).resolves.toBeDefined();
    },
    { sessions: true },
  );
}
