// The raw floors of the same work without the service, on each runtime:
// local, a bare bubblewrap sandbox against a bare `runsc do`, both over the
// prepared root filesystem; docker, `docker run --rm` against the same with
// `--runtime runsc`. They show what the runtime itself costs, apart from
// anything the backends add.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { SandboxRuntime } from "@code-interpreter/core/sandbox";
import { descendants, idlePeak, type MemoryReading, processMemory } from "./sandbox-memory.ts";

const run = promisify(execFile);

/** The platform runsc runs on here: ptrace (kvm hangs on this machine although /dev/kvm exists; issue 25). */
const RUNSC_PLATFORM = process.env.GVISOR_PLATFORM || "ptrace";

/** argv that runs `python3 -c code` in a fresh raw sandbox of one runtime. */
export type FloorCommand = (code: string) => string[];

/** A bare bubblewrap sandbox over the root filesystem, nothing shared, as the local backend's floor. */
export function bwrapCommand(rootfs: string): FloorCommand {
  return (code) => [
    "bwrap",
    "--unshare-all",
    "--die-with-parent",
    "--ro-bind",
    rootfs,
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--chdir",
    "/tmp",
    "/usr/bin/python3",
    "-c",
    code,
  ];
}

/** A bare `runsc do` over the root filesystem (its writes go to an overlay in memory), no network. */
export function runscDoCommand(rootfs: string, stateDir: string): FloorCommand {
  return (code) => [
    "runsc",
    `--platform=${RUNSC_PLATFORM}`,
    "--network=none",
    "--root",
    stateDir,
    "do",
    "--root",
    rootfs,
    "--cwd",
    "/tmp",
    "/usr/bin/python3",
    "-c",
    code,
  ];
}

/** `docker run --rm` of the executor image, with the engine's default runtime or runsc. */
export function dockerRunCommand(image: string, runtime: SandboxRuntime): FloorCommand {
  return (code) => [
    "docker",
    "run",
    "--rm",
    "--network",
    "none",
    ...(runtime === "gvisor" ? ["--runtime", "runsc"] : []),
    "--label",
    "code-interpreter.bench=floor",
    // A memory-backed /tmp, as the backends' workspaces are (the image's own layer is on disk).
    "--tmpfs",
    "/tmp",
    "--workdir",
    "/tmp",
    image,
    "python3",
    "-c",
    code,
  ];
}

/** Runs a floor command to the end; resolves to its stdout. */
export async function runFloor(command: FloorCommand, code: string): Promise<string> {
  const [file, ...args] = command(code);
  const { stdout } = await run(file as string, args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** A state directory for `runsc do` (its bundles and state), removed by the returned function. */
export async function runscStateDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "ci-bench-runsc-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The memory of a raw local sandbox that has imported the data stack and waits
 * (as a warm sandbox does): the PSS of its process and everything below it
 * (bubblewrap and Python; `runsc do`, its gofer, Sentry and ptrace stubs).
 */
export async function localFloorMemory(command: FloorCommand): Promise<MemoryReading> {
  const code = "import numpy, pandas, matplotlib, matplotlib.pyplot, sys, time\nprint('ready', flush=True)\ntime.sleep(120)";
  const [file, ...args] = command(code);
  const child: ChildProcess = spawn(file as string, args, { stdio: ["ignore", "pipe", "ignore"] });
  const pid = child.pid as number;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file}: no 'ready' within 60 s`)), 60_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`${file} exited (${code}) before it was ready`)));
    });
    return await idlePeak(async () => processMemory([pid, ...(await descendants(pid))]), { everyMs: 500, settleMs: 5000, samples: 4 });
  } finally {
    // The Sentry and gofer of `runsc do` are its children: end them too, not only it.
    for (const below of await descendants(pid)) {
      try {
        process.kill(below, "SIGKILL");
      } catch {} // gone already
    }
    child.kill("SIGKILL");
  }
}
