import { type ChildProcess, spawn } from "node:child_process";
import { processChannel, type RunnerChannel, runnerArgv } from "@code-interpreter/core/runner";
import { bwrapAccepts, bwrapArgs, groupFile, passwdFile } from "./bwrap-args.js";
import { seccompProgram } from "./seccomp-filter.js";

/** How a sandbox is made: bubblewrap, or (with a warning) a plain child process. */
export type Isolation = "bwrap" | "none";

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
}

/** A started sandbox whose runner waits for its request on stdin. */
export interface SandboxProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly channel: RunnerChannel;
  /** How it ended (`exit 1`, `exit SIGKILL`), once it has. */
  readonly exited: Promise<string>;
  /** Kills it (bubblewrap takes everything in the sandbox with it) and waits for its end. */
  kill(): Promise<string>;
}

/** The sandbox's seccomp filter; undefined on an architecture without one. */
const SECCOMP_PROGRAM = seccompProgram();

/** Starts a sandbox with the runner in it, waiting for a request. */
export function spawnSandbox(options: SandboxSpawnOptions): SandboxProcess {
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
  return { name: options.name, child, channel, exited, kill };
}

function commandLine(options: SandboxSpawnOptions): [string, string[]] {
  const runner = options.argv ?? runnerArgv(options.python, { preload: options.preload });
  if (options.isolation === "none") return [runner[0] as string, runner.slice(1)];
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
    disableUserns: bwrapAccepts(options.bwrapPath, ["--unshare-user", "--disable-userns"], options.runAs),
    asPid1: !options.kernel && bwrapAccepts(options.bwrapPath, ["--as-pid-1"], options.runAs),
  });
  return [options.bwrapPath, [...sandbox, "--", ...runner]];
}
