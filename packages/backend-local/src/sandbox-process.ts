import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BackendUnavailableError, EGRESS_MOUNT_PATH, EGRESS_SANDBOX_PORT, EGRESS_SOCKET_NAME } from "@code-interpreter/core";
import { processChannel, type RunnerChannel, runnerArgv, withEgressForwarder } from "@code-interpreter/core/runner";
import { bwrapAccepts, bwrapArgs, groupFile, passwdFile } from "./bwrap-args.js";
import { type RunscOptions, runscCheckpointArgs, runscGlobalArgs, runscRestoreArgs, runscRunArgs, runscSpec } from "./runsc-bundle.js";
import { seccompProgram } from "./seccomp-filter.js";

/** How a sandbox is made: bubblewrap, gVisor (runsc), or (with a warning) a plain child process. */
export type Isolation = "bwrap" | "gvisor" | "none";

/** How to start one sandbox with the runner in it. */
export interface SandboxSpawnOptions {
  isolation: Isolation;
  bwrapPath: string;
  /** Root filesystem of the sandbox (bubblewrap only); undefined: the host's /usr. */
  rootfs?: string;
  python: string;
  /** Spawn as this uid/gid (only when the server runs as root). */
  runAs?: number;
  uid: number;
  tmpfsBytes: number;
  name: string;
  /** Host directory that is the workspace (sessions; one-shot runs without bubblewrap). */
  workspaceDir?: string;
  /** The runner's own environment; a preloading runner needs the code's from the start. */
  env?: Record<string, string>;
  /** Modules the runner imports before its request comes (a warm sandbox). */
  preload?: readonly string[];
  /** What to run instead of a one-shot runner: a session's command runner (`serveArgv`) or Python kernel (`kernelArgv`). */
  argv?: string[];
  /** It is a session's Python kernel, which must not be the sandbox's pid 1 (see BwrapOptions.asPid1); a runner is. */
  kernel?: boolean;
  /** gVisor only: how runsc runs, and the directory its bundles go in. */
  runsc?: RunscOptions & { bundlesDir: string; memoryBytes?: number };
  /**
   * gVisor only: a checkpoint image directory (`runsc checkpoint`) to restore
   * instead of starting `argv` afresh: moved into the bundle (it goes with it).
   */
  restoreFrom?: string;
  /** Host directory with the egress proxy's socket (issue 22): bound in, and the forwarder started before the runner takes a request (bubblewrap only). */
  egressDir?: string;
}

/** A started sandbox whose runner waits for its request on stdin. */
export interface SandboxProcess {
  readonly name: string;
  /** gVisor only: the runsc container's id (`<name>-<random>`), and its bundle directory. */
  readonly containerId?: string;
  readonly bundleDir?: string;
  /** Its own process (none for one forked by the fork server, whose connection is its channel). */
  readonly child?: ChildProcess;
  readonly channel: RunnerChannel;
  /** How it ended (`exit 1`, `exit SIGKILL`), once it has. */
  readonly exited: Promise<string>;
  /** Kills it (bubblewrap takes everything in the sandbox with it) and waits for its end. */
  kill(): Promise<string>;
  /**
   * Ends it once its channel is hung up: a one-shot runner exits by itself then (it has answered, or it sees its
   * input end), so this waits a moment for that before it kills what is left.
   */
  finish(): Promise<string>;
}

/**
 * How long `finish` waits for a gVisor sandbox to end by itself: `runsc run` deletes its container once the
 * runner exits (0.1-0.6 s later under load), which spares the server a `runsc delete`.
 */
export const RUNSC_SELF_EXIT_MS = 5000;

/** The sandbox's seccomp filter; undefined on an architecture without one. */
const SECCOMP_PROGRAM = seccompProgram();

/** Starts a sandbox with the runner in it, waiting for a request. */
export function spawnSandbox(options: SandboxSpawnOptions): SandboxProcess {
  if (options.isolation === "gvisor") return spawnRunsc(options);
  const [command, args] = commandLine(options);
  const child = spawn(command, args, {
    stdio: ["pipe", "pipe", "pipe", "pipe", "pipe", "pipe"],
    uid: options.runAs,
    gid: options.runAs,
    cwd: options.isolation === "none" ? options.workspaceDir : undefined,
    // A process group of its own, killed whole: bubblewrap's child waits for its parent's go-ahead before
    // it can die with it, and one whose parent was killed in that moment would wait forever (holding the pipes).
    detached: true,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8", ...(options.isolation === "none" ? options.env : {}) },
  });
  const channel = processChannel(child);
  // Fds 3-5 carry /etc/passwd, /etc/group and the seccomp filter into bubblewrap.
  const inputs = child.stdio as unknown as (NodeJS.WritableStream | null | undefined)[];
  for (const stream of [inputs[3], inputs[4], inputs[5]]) stream?.on("error", () => {});
  inputs[3]?.end(passwdFile(options.uid));
  inputs[4]?.end(groupFile(options.uid));
  inputs[5]?.end(options.isolation === "bwrap" ? (SECCOMP_PROGRAM ?? "") : "");
  const exited = new Promise<string>((resolve) => {
    child.once("error", (error) => {
      // Could not even start it (ENOENT, EACCES): that is the reason the answer gives.
      channel.diagnostic(`could not start ${command}: ${error.message}`);
      channel.end();
      resolve("not started");
    });
    child.once("close", (code, signal) => resolve(`exit ${code ?? signal}`));
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        child.kill("SIGKILL"); // not started, or its group is gone
      }
    }
    return exited;
  };
  return { name: options.name, child, channel, exited, kill, finish: kill };
}

function commandLine(options: SandboxSpawnOptions): [string, string[]] {
  let runner = options.argv ?? runnerArgv(options.python, { preload: options.preload });
  if (options.isolation === "none") return [runner[0] as string, runner.slice(1)];
  if (options.egressDir) runner = withEgressForwarder(runner, `${EGRESS_MOUNT_PATH}/${EGRESS_SOCKET_NAME}`, EGRESS_SANDBOX_PORT);
  const sandbox = bwrapArgs({
    name: options.name,
    uid: options.uid,
    workspaceDir: options.workspaceDir,
    tmpfsBytes: options.tmpfsBytes,
    passwdFd: 3,
    groupFd: 4,
    seccompFd: SECCOMP_PROGRAM ? 5 : undefined,
    env: options.env,
    rootfs: options.rootfs,
    egressDir: options.egressDir,
    disableUserns: bwrapAccepts(options.bwrapPath, ["--unshare-user", "--disable-userns"], options.runAs),
    asPid1: !options.kernel && bwrapAccepts(options.bwrapPath, ["--as-pid-1"], options.runAs),
  });
  return [options.bwrapPath, [...sandbox, "--", ...runner]];
}

/**
 * A gVisor sandbox: its bundle (config.json, passwd and group files) in a
 * directory of its own, and `runsc run` (or `runsc restore` of a checkpoint)
 * in the foreground, whose stdin and stdout are the runner's. Killed with `runsc delete --force` (the sandbox's
 * processes are not in runsc's process group), then its bundle goes.
 */
function spawnRunsc(options: SandboxSpawnOptions): SandboxProcess {
  const runsc = options.runsc;
  if (!options.rootfs || !runsc) throw new Error("a gVisor sandbox needs the prepared root filesystem and runsc's settings");
  const containerId = `${options.name}-${randomBytes(4).toString("hex")}`;
  const bundleDir = join(runsc.bundlesDir, containerId);
  mkdirSync(bundleDir, { recursive: true, mode: 0o711 });
  const passwdPath = join(bundleDir, "passwd");
  const groupPath = join(bundleDir, "group");
  writeFileSync(passwdPath, passwdFile(options.uid), { mode: 0o644 });
  writeFileSync(groupPath, groupFile(options.uid), { mode: 0o644 });
  const spec = runscSpec({
    name: options.name,
    uid: options.uid,
    rootfs: options.rootfs,
    // The warm runner takes its fork's copy-on-write faults before it is ready: each one is costly under gVisor.
    argv: options.argv ?? runnerArgv(options.python, { preload: options.preload, prefault: true }),
    env: options.env,
    workspaceDir: options.workspaceDir,
    tmpfsBytes: options.tmpfsBytes,
    passwdPath,
    groupPath,
    memoryBytes: runsc.memoryBytes,
    serverPid: process.pid,
  });
  writeFileSync(join(bundleDir, "config.json"), JSON.stringify(spec, null, 2), { mode: 0o644 });
  let args = runscRunArgs(runsc, bundleDir, containerId);
  if (options.restoreFrom) {
    const imageDir = join(bundleDir, "image");
    renameSync(options.restoreFrom, imageDir);
    args = runscRestoreArgs(runsc, bundleDir, containerId, imageDir);
  }
  const child = spawn(runsc.runscPath, args, {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
  });
  const channel = processChannel(child);
  const exited = new Promise<string>((resolve) => {
    child.once("error", (error) => {
      channel.diagnostic(`could not start ${runsc.runscPath}: ${error.message}`);
      channel.end();
      resolve("not started");
    });
    child.once("close", (code, signal) => resolve(`exit ${code ?? signal}`));
  });
  // `runsc run` deletes its container when the runner exits; the bundle is ours to remove.
  const removed = exited.then(() => rm(bundleDir, { recursive: true, force: true }).catch(() => {}));
  let killing: Promise<string> | undefined;
  const kill = () => {
    killing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await deleteContainer(runsc, containerId);
        try {
          process.kill(-(child.pid as number), "SIGKILL");
        } catch {
          child.kill("SIGKILL"); // not started, or its group is gone
        }
      }
      const how = await exited;
      await removed;
      return how;
    })();
    return killing;
  };
  // Spawning `runsc delete` blocks the server's event loop while it forks (20-100 ms), and a one-shot sandbox is
  // removed just as its answer goes out: when it ends by itself there is nothing to delete.
  const finish = async () => {
    if (channel.ended) await settledWithin(exited, RUNSC_SELF_EXIT_MS);
    return kill();
  };
  return { name: options.name, containerId, bundleDir, child, channel, exited, kill, finish };
}

/** Waits for `promise` to settle, at most `ms`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([promise.catch(() => {}), elapsed]);
  clearTimeout(timer);
}

/** `runsc delete --force`: kills the container's sandbox (every process in it) and forgets it; quiet when it is gone already. */
export function deleteContainer(runsc: RunscOptions, containerId: string): Promise<void> {
  return new Promise((resolve) => {
    execFile(runsc.runscPath, [...runscGlobalArgs(runsc), "delete", "--force", containerId], { timeout: 30_000 }, () => resolve());
  });
}

/**
 * `runsc checkpoint`: saves the container's processes and memory in
 * `imageDir` and ends it (its `runsc run` exits). `--leave-running` is not
 * used: runsc 20221219 fails to stop the sandbox it restarts.
 */
export function checkpointContainer(runsc: RunscOptions, containerId: string, imageDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(runsc.runscPath, runscCheckpointArgs(runsc, containerId, imageDir), { timeout: 120_000 }, (error, _stdout, stderr) => {
      const reason = (stderr || error?.message || "").trim().split("\n").at(-1);
      if (error) reject(new BackendUnavailableError({ message: `runsc checkpoint of ${containerId} failed: ${reason}` }));
      else resolve();
    });
  });
}

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
