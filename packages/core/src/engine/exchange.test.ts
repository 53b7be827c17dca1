import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { processChannel, type RunnerChannel } from "../runner/runner-channel.js";
import { serveArgv } from "../runner/runner-commands.js";
import type { RunnerRequest } from "../runner/runner-protocol.js";
import { exchange } from "./exchange.js";

// A session's command runner, run directly (no sandbox) in a temporary directory: one channel, many requests.
let dir: string;
let channel: RunnerChannel;
let exited: Promise<number | null>;
let kill: () => void;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-serve-"));
  const [python, ...args] = serveArgv("python3");
  const child = spawn(python as string, args, { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
  exited = new Promise((resolve) => child.once("close", (code) => resolve(code)));
  kill = () => child.kill("SIGKILL");
  channel = processChannel(child);
});
afterEach(async () => {
  kill();
  await exited;
  await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Whether the process runs (a zombie waiting for its new parent to reap it does not). */
const alive = async (pid: number) => {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
};

const bash = (command: string, extra: Partial<RunnerRequest> = {}) =>
  exchange(channel, {
    request: { argv: ["bash", "-c", command], cwd: dir, maxOutputBytes: 1 << 20, timeoutMs: 10_000, ...extra },
    stop: async () => kill(),
  });

describe("a session's command runner over one channel", () => {
  it("answers one request after another, each command a fresh process in the same workspace", async () => {
    const first = await bash("echo hi; echo $$ > pid; echo oops >&2");
    expect(first.result).toMatchObject({ stdout: "hi\n", stderr: "oops\n", exitCode: 0, timedOut: false });
    const second = await bash("cat pid; echo $$; exit 3");
    const [before, now] = (second.result?.stdout ?? "").trim().split("\n");
    expect(before).toBe((await readFile(join(dir, "pid"), "utf8")).trim());
    expect(now).not.toBe(before);
    expect(second.result?.exitCode).toBe(3);
  });

  it("ends a command and its children at the timeout, and stays usable", async () => {
    const slow = await bash("sleep 30 & sleep 30; echo never", { timeoutMs: 300 });
    expect(slow.result).toMatchObject({ timedOut: true, exitCode: null, stdout: "" });
    expect((await bash("echo still here")).result?.stdout).toBe("still here\n");
  });

  it("exits, ending what it runs, when the server hangs up", async () => {
    const pending = bash("echo $$ > pid; sleep 30", { timeoutMs: 60_000 });
    for (let i = 0; i < 200 && !(await readFile(join(dir, "pid"), "utf8").catch(() => "")); i++) await sleep(50);
    const pid = Number((await readFile(join(dir, "pid"), "utf8")).trim());
    channel.hangUp();
    await pending;
    expect(await exited).not.toBeNull();
    expect(await alive(pid)).toBe(false);
  });

  it("holds a large snapshot back in the sandbox while its taker is behind, even within a file, and hands over every byte", async () => {
    const MiB = 1024 * 1024;
    let bytesRead = 0;
    const data = channel.data.bind(channel);
    vi.spyOn(channel, "data").mockImplementation((chunk: Buffer) => {
      bytesRead += chunk.length;
      data(chunk);
    });
    const made = await bash("head -c 25165824 /dev/urandom > big; for i in 1 2 3 4; do head -c 1048576 /dev/urandom > f$i; done");
    expect(made.result?.exitCode).toBe(0);
    const taken: [string, number][] = [];
    let readWhileHeld = 0;
    const snapshot = await exchange(channel, {
      request: { cwd: dir, snapshot: true, maxOutputBytes: 1 << 20, timeoutMs: 30_000 },
      maxSnapshotBytes: 64 * MiB,
      onFile: async (file) => {
        let size = 0;
        for await (const chunk of file.content) {
          // A store that stalls after the first chunk of the 24 MiB file.
          if (file.path === "big" && size === 0) {
            await sleep(300);
            readWhileHeld = bytesRead;
          }
          size += chunk.length;
        }
        expect(size).toBe(file.size);
        taken.push([file.path, size]);
      },
      stop: async () => kill(),
    });
    expect(snapshot.result?.snapshot).toEqual([]);
    expect(taken.sort()).toEqual([
      ["big", 24 * MiB],
      ["f1", MiB],
      ["f2", MiB],
      ["f3", MiB],
      ["f4", MiB],
    ]);
    // 28 MiB were waiting; while the store stalled, little more than the read-ahead came in.
    expect(readWhileHeld).toBeLessThan(6 * MiB);
    expect(bytesRead).toBeGreaterThan(28 * MiB);
  });

  it("ends at the backstop and its grace when the snapshot's taker hangs (a stalled store)", async () => {
    let stops = 0;
    const outcome = await exchange(channel, {
      request: { argv: ["bash", "-c", "echo hi > out"], cwd: dir, snapshot: true, maxOutputBytes: 1 << 20, timeoutMs: 200 },
      onFile: () => new Promise<void>(() => {}),
      stop: async () => {
        stops += 1;
        kill();
      },
    });
    expect(outcome.stopped).toBe("backstop");
    expect(outcome.result).toBeUndefined();
    expect(stops).toBe(1);
  });
});
