import { expect } from "vitest";
import { TRUNCATION_SUFFIX } from "../output.js";
import * as code from "./hostile-code.js";
import type { HostileContext } from "./hostile-context.js";

/** Resource exhaustion: bombs, stalls, fills, floods, stopped and escaped processes. */
export function describeExhaustion({ hostile, run, bash, withSession, backend, settings }: HostileContext): void {
  /** Both bash and the session's Python still answer. */
  const expectSessionAlive = async (id: string) => {
    expect(await bash(id, "echo alive")).toMatchObject({ stdout: "alive\n", exitCode: 0 });
    expect(await backend().runInSession({ sessionId: id, language: "python", code: "print('alive')", timeoutMs: 10_000 })).toMatchObject({
      stdout: "alive\n",
    });
  };
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
      { timeout: 120_000 },
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
        onStdout: (data) => {
          streamed += data.length;
        },
        onStderr: (data) => {
          streamed += data.length;
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
      onStdout: (data) => {
        if (data.includes("bombing")) started();
      },
    });
    await Promise.race([bombing, bomb]);
    const neighbour = await run(code.SPAWN_SOME);
    expect(neighbour).toMatchObject({ stdout: "spawned\n", exitCode: 0 });
    expect(await bomb).toMatchObject({ timedOut: true });
  });

  hostile(
    "does not let a daemon a session command detached outlive the command",
    async () => {
      await withSession(async (id) => {
        const python = await backend().runInSession({ sessionId: id, language: "python", code: code.DAEMONISE, timeoutMs: 10_000 });
        expect(python.stdout).toBe("daemonised\n");
        const detached = await bash(
          id,
          // Waits until the daemon has left the command's session, so the command ends with it detached.
          `setsid bash -c 'exec -a ${code.HOSTILE_MARKER} sleep 300' </dev/null >/dev/null 2>&1 &
          for i in $(seq 200); do grep -q ${code.HOSTILE_MARKER.replace("stray", "[s]tray")} /proc/[0-9]*/cmdline 2>/dev/null && break; sleep 0.05; done
          echo detached`,
        );
        expect(detached.stdout).toBe("detached\n");
        // Looked for from bash and from the session's Python, which may live in different sandboxes.
        const look = await bash(
          id,
          `grep -l ${code.HOSTILE_MARKER.replace("stray", "[s]tray")} /proc/[0-9]*/cmdline 2>/dev/null || echo none`,
        );
        expect(look.stdout).toBe("none\n");
        const lookFromPython = await backend().runInSession({
          sessionId: id,
          language: "python",
          code: code.LOOK_FOR_TRACES("none"),
          timeoutMs: 10_000,
        });
        expect(lookFromPython.stdout).toBe("done\n");
      });
    },
    { sessions: true },
  );

  hostile(
    "keeps a session usable after its code signals every process it can",
    async () => {
      await withSession(async (id) => {
        // Whatever those calls answer (the signals may end their own runner), the session must answer afterwards.
        await backend()
          .runInSession({ sessionId: id, language: "python", code: code.SIGNAL_EVERYONE, timeoutMs: 5000 })
          .catch(() => {});
        await bash(id, `python3 - <<'EOF'\n${code.SIGNAL_EVERYONE}EOF`, 5000).catch(() => {});
        await expectSessionAlive(id);
      });
    },
    { sessions: true },
  );

  hostile(
    "keeps a session usable after a fork bomb in one of its commands",
    async () => {
      await withSession(async (id) => {
        // Whatever the bomb's own answer, the session must answer afterwards.
        await bash(id, ":(){ :|:& };:; sleep 5", 3000);
        await expectSessionAlive(id);
      });
    },
    { sessions: true },
  );

  hostile(
    "ends a session command whose background process keeps the pipe open, and kills it",
    async () => {
      await withSession(async (id) => {
        const result = await bash(id, `(exec -a ${code.HOSTILE_MARKER} sleep 300) & echo started`, 20_000);
        expect(result).toMatchObject({ stdout: "started\n", exitCode: 0, timedOut: false });
        expect(
          (await bash(id, `grep -l ${code.HOSTILE_MARKER.replace("stray", "[s]tray")} /proc/[0-9]*/cmdline 2>/dev/null || echo none`))
            .stdout,
        ).toBe("none\n");
      });
    },
    { sessions: true },
  );
}
