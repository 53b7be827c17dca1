import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OutputChunk } from "../output.js";
import { GVISOR_SYSCALL_POLICY } from "../policy/index.js";
import { pythonArgv, runnerArgv, serveArgv } from "./runner-commands.js";
import { encodeRunnerRequest, type RunnerRequest, RunnerResponseDecoder } from "./runner-protocol.js";

// The runner's protocol, run directly (no sandbox) in a temporary directory.
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-runner-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function runRunner(
  request: Omit<RunnerRequest, "cwd" | "maxOutputBytes"> & { maxOutputBytes?: number },
  onOutput?: (chunk: OutputChunk) => void,
  preload?: string[],
) {
  const full = { maxOutputBytes: 1 << 20, ...request, cwd: dir };
  const [python, ...args] = runnerArgv("python3", { preload });
  const child = spawn(python as string, args, { cwd: dir });
  const decoder = new RunnerResponseDecoder(
    full.maxOutputBytes,
    onOutput && { onStdout: (data) => onOutput({ stream: "stdout", data }), onStderr: (data) => onOutput({ stream: "stderr", data }) },
  );
  child.stdout.on("data", (chunk: Buffer) => decoder.push(chunk));
  // Stdin stays open until the answer, as a server keeps it: its end would tell the runner we are gone.
  child.stdin.write(await encodeRunnerRequest(full));
  await new Promise((resolve) => child.on("close", resolve));
  child.stdin.end();
  return decoder.finish();
}

describe("the in-sandbox runner", { timeout: 30_000 }, () => {
  it("ends the command and exits when its server hangs up (the end of its stdin)", async () => {
    const [python, ...args] = runnerArgv("python3");
    const child = spawn(python as string, args, { cwd: dir });
    const decoder = new RunnerResponseDecoder(1 << 20);
    child.stdout.on("data", (chunk: Buffer) => decoder.push(chunk));
    const code = "import time\nprint('started', flush=True)\ntime.sleep(60)";
    child.stdin.write(await encodeRunnerRequest({ argv: ["python3", "-c", code], cwd: dir, maxOutputBytes: 1 << 20, timeoutMs: 60_000 }));
    while (!decoder.partialOutput().stdout.includes("started")) await new Promise((resolve) => setTimeout(resolve, 20));
    const started = Date.now();
    child.stdin.end();
    await new Promise((resolve) => child.on("close", resolve));
    // Well before the code's 60 s: it went with the runner.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await decoder.finish()).toBeUndefined();
  });

  it("stages files, runs the command with stdin, and snapshots the workspace", async () => {
    const result = await runRunner({
      argv: ["python3", "-c", "import sys; d = open('in/x.txt').read(); open('out.txt', 'w').write(d + sys.stdin.read())"],
      files: [{ path: "in/x.txt", content: Buffer.from("staged-") }],
      stdin: "piped",
      timeoutMs: 10_000,
      snapshot: true,
    });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(result?.snapshot.map((f) => [f.path, f.content.toString()]).sort()).toEqual([
      ["in/x.txt", "staged-"],
      ["out.txt", "staged-piped"],
    ]);
  });

  it("lists the files a snapshot over its limit leaves out, with the reason", async () => {
    const result = await runRunner({
      argv: ["python3", "-c", "open('a.bin', 'wb').write(b'a' * 600)\nopen('b.bin', 'wb').write(b'b' * 600)"],
      timeoutMs: 10_000,
      snapshot: true,
      maxSnapshotBytes: 1000,
    });
    expect(result?.snapshot.map((file) => file.path)).toEqual(["a.bin"]);
    expect(result?.snapshotTruncated).toBe(true);
    expect(result?.skippedFiles).toEqual([{ path: "b.bin", reason: "the workspace's files add up to over 1000 bytes" }]);
  });

  it("fails a write past fileSizeBytes with EFBIG in the code's own traceback", async () => {
    const result = await runRunner({
      argv: ["python3", "-c", "print('before', flush=True)\nopen('big.bin', 'wb').write(b'x' * 65536)"],
      timeoutMs: 10_000,
      limits: { fileSizeBytes: 1024 },
    });
    expect(result).toMatchObject({ stdout: "before\n", exitCode: 1 });
    expect(result?.stderr).toContain("OSError: [Errno 27] File too large");
  });

  it("reports signals as 128 + the signal number", async () => {
    const result = await runRunner({
      argv: ["python3", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
      timeoutMs: 10_000,
    });
    expect(result?.exitCode).toBe(143);
  });

  it("streams output chunks while the command runs and caps what it keeps", async () => {
    const chunks: OutputChunk[] = [];
    const result = await runRunner({ argv: ["python3", "-c", "print('a' * 50)"], timeoutMs: 10_000, maxOutputBytes: 10 }, (chunk) =>
      chunks.push(chunk),
    );
    expect(result?.stdout).toBe(`${"a".repeat(10)}\n...[truncated]`);
    expect(chunks.map((c) => c.data).join("")).toBe("a".repeat(10));
  });

  it("runs the last-line-interactive wrapper like the REPL", async () => {
    const run = (code: string) =>
      runRunner({
        argv: pythonArgv({ lastLineInteractive: true }),
        files: [{ path: "__main__.py", content: Buffer.from(code) }],
        timeoutMs: 10_000,
      });
    expect((await run("1 + 1"))?.stdout).toBe("2\n");
    expect((await run("'text'"))?.stdout).toBe("'text'\n");
    expect((await run("x = 1"))?.stdout).toBe("");
    expect((await run("print('p')"))?.stdout).toBe("p\n");
    expect((await run("import sys\nsys.exit(4)"))?.exitCode).toBe(4);
  });

  it("cleans up the code file it was given for a session command", async () => {
    await runRunner({ argv: ["true"], script: { path: join(dir, "script.py"), content: "1" }, timeoutMs: 10_000 });
    expect(await readdir(dir)).toEqual([]);
  });

  it("loads the syscall policy it is given on itself, so a session's commands run under it", async () => {
    // What a session's runner does under gVisor, where an exec'd process gets no filter from the sandbox.
    const [python, ...args] = serveArgv("python3", { syscallPolicy: GVISOR_SYSCALL_POLICY });
    const child = spawn(python as string, args, { cwd: dir });
    const decoder = new RunnerResponseDecoder(1 << 20);
    child.stdout.on("data", (chunk: Buffer) => decoder.push(chunk));
    // AF_NETLINK: open to anyone without the filter, EAFNOSUPPORT (97) under it.
    const code =
      "import socket\ntry:\n    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)\n    print('opened')\nexcept OSError as e:\n    print(e.errno)";
    const command = `grep '^Seccomp:' /proc/self/status; python3 -c "${code.replaceAll('"', '\\"')}"`;
    child.stdin.write(await encodeRunnerRequest({ argv: ["bash", "-c", command], cwd: dir, maxOutputBytes: 1 << 20, timeoutMs: 10_000 }));
    const done = new Promise((resolve) => child.on("close", resolve));
    while (decoder.partialOutput().stdout.split("\n").length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
    child.stdin.end();
    await done;
    expect(decoder.partialOutput().stdout).toBe("Seccomp:\t2\n97\n");
  });
});

describe.each([
  ["a fresh interpreter", undefined],
  ["a fork of a preloaded runner", ["json"]],
])("Python code run in %s", (_name, preload) => {
  const run = (code: string, extra: Partial<RunnerRequest> = {}) =>
    runRunner(
      {
        argv: pythonArgv({ lastLineInteractive: true }),
        inline: { file: "__main__.py", showLast: true },
        files: [{ path: "__main__.py", content: Buffer.from(code) }],
        timeoutMs: 10_000,
        ...extra,
      },
      undefined,
      preload,
    );

  it("shows the last expression, reads stdin and sees loaded modules", async () => {
    const result = await run("import sys\nprint(sys.stdin.read())\n'json' in sys.modules, __name__, sys.argv", { stdin: "in" });
    expect(result?.stdout).toBe(`in\n(${preload ? "True" : "False"}, '__main__', ['__main__.py'])\n`);
    expect(result?.exitCode).toBe(0);
  });

  it("imports modules next to the code", async () => {
    const result = await run("import helper\nhelper.VALUE", {
      files: [
        { path: "__main__.py", content: Buffer.from("import helper\nhelper.VALUE") },
        { path: "helper.py", content: Buffer.from("VALUE = 7") },
      ],
    });
    expect(result?.stdout).toBe("7\n");
  });

  it("reports exceptions with a traceback of the code only, and exit codes", { timeout: 30_000 }, async () => {
    const failed = await run("def f():\n    raise KeyError('k')\nf()");
    expect(failed?.exitCode).toBe(1);
    expect(failed?.stderr).toMatch(/^Traceback \(most recent call last\):\n {2}File "__main__.py", line 3/);
    expect(failed?.stderr).toContain("KeyError: 'k'");
    expect((await run("import sys\nsys.exit(5)"))?.exitCode).toBe(5);
    expect(await run("raise SystemExit('bye')")).toMatchObject({ exitCode: 1, stderr: "bye\n" });
    expect((await run("x = ("))?.stderr).toContain("SyntaxError");
  });

  it("waits for the code's threads and runs its atexit handlers", async () => {
    const result = await run(
      "import atexit, threading, time\natexit.register(lambda: print('bye'))\nthreading.Thread(target=lambda: (time.sleep(0.2), print('thread'))).start()",
    );
    expect(result?.stdout).toBe("thread\nbye\n");
  });

  it("stops code at its timeout", async () => {
    const result = await run("while True: pass", { timeoutMs: 300 });
    expect(result).toMatchObject({ timedOut: true, exitCode: null });
  });
});
