import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { forkServerArgv, RunnerChannel } from "@code-interpreter/core/runner";
import { bwrapAccepts, bwrapArgs, groupFile, passwdFile } from "./bwrap-args.js";
import { isAlive, type SandboxProcess, type SandboxSpawnOptions } from "./sandbox-process.js";
import { seccompSpec } from "./seccomp-filter.js";

/** How the fork server's sandbox, and so every execution forked from it, is made. */
export interface ForkServerOptions extends Pick<SandboxSpawnOptions, "bwrapPath" | "rootfs" | "python" | "runAs" | "uid"> {
  /** Size of each execution's tmpfs /tmp, /workspace and /dev/shm. */
  tmpfsBytes: number;
  /** Its socket's directory goes under here (or the system's temporary directory, where this one's path is too long). */
  stateDir: string;
  /** Modules the fork server imports once, for every execution. */
  preload: readonly string[];
  warn: (message: string) => void;
}

/** Longest Unix socket path (108 bytes with its terminating zero on Linux), with room to spare. */
const MAX_SOCKET_PATH = 100;

/** The fork server's own process, started once per environment. */
interface Mother {
  readonly child: ChildProcess;
  readonly dir: string;
  readonly socketPath: string;
  /** The environment it (and every execution forked from it) was started with, as JSON: what it serves. */
  readonly envKey: string;
  /** Resolves once it listens; rejects when it ended before. */
  readonly listening: Promise<void>;
  readonly exited: Promise<void>;
  /** Executions by name: whether it said it forked one, and what to call once it says the execution is gone. */
  readonly executions: Map<string, { forked: boolean; gone: () => void }>;
}

/**
 * One-shot sandboxes forked from one preloaded interpreter (issue 24): a
 * long-lived bubblewrap sandbox (the "mother", the runner's `--fork-server`
 * mode) imports the data stack once; each execution is a fork of it that
 * enters fresh user, mount, pid, ipc, net, uts and cgroup namespaces, mounts its own
 * /tmp, /workspace, /dev/shm and /proc, drops every capability, loads the
 * syscall filter, and serves its one request over its own connection to the
 * mother's Unix socket (see the runner's forkserver.py). So a warm sandbox
 * costs three forks instead of a bubblewrap start and the data stack's
 * import (~650 ms of CPU), and what one execution leaves is gone with its
 * namespaces. Sessions and sandboxes with a way out do not use it.
 */
export class ForkServer {
  private mother: Mother | undefined;
  private closed = false;

  constructor(private readonly options: ForkServerOptions) {}

  /**
   * Whether an execution with this environment can be forked: the mother's
   * modules read the environment as they import, so it serves only the one it
   * was started with (the engine's, which is every one-shot request's).
   */
  serves(env: Record<string, string>): boolean {
    return this.mother === undefined || this.mother.envKey === envKey(env);
  }

  /** A sandbox forked for execution `name`: its runner parks and says it is ready, then waits for the request. */
  async start(name: string, env: Record<string, string>): Promise<SandboxProcess> {
    if (this.closed) throw new Error("the fork server is closed");
    const mother = this.motherFor(env);
    await mother.listening;
    return connect(mother, name);
  }

  /** Ends the mother (bubblewrap takes every execution forked from it along) and removes its socket's directory. */
  async close(): Promise<void> {
    this.closed = true;
    const mother = this.mother;
    this.mother = undefined;
    if (mother) await stopMother(mother);
  }

  /** The running mother for `env`, started (again) when there is none, it ended, or it serves another environment. */
  private motherFor(env: Record<string, string>): Mother {
    const key = envKey(env);
    const current = this.mother;
    if (current && current.envKey === key && current.child.exitCode === null && current.child.signalCode === null) return current;
    if (current) void stopMother(current);
    this.mother = this.startMother(env, key);
    return this.mother;
  }

  private startMother(env: Record<string, string>, key: string): Mother {
    const { options } = this;
    // Named after this server's pid: a directory whose server has died (a crash, no close) is removed by the next.
    const id = `${process.pid}-${randomBytes(6).toString("hex")}`;
    let base = join(options.stateDir, "fork-server");
    if (join(base, id, "mother.sock").length > MAX_SOCKET_PATH) base = join("/tmp", "code-interpreter-fork-server");
    mkdirSync(base, { recursive: true, mode: 0o711 });
    removeDeadServersDirectories(base);
    const dir = join(base, id);
    mkdirSync(dir, { mode: 0o700 });
    if (options.runAs !== undefined) chownSync(dir, options.runAs, options.runAs);
    const sandbox = bwrapArgs({
      name: `code-exec-fork-server-${id.slice(-12)}`,
      uid: options.uid,
      tmpfsBytes: options.tmpfsBytes,
      passwdFd: 3,
      groupFd: 4,
      env,
      rootfs: options.rootfs,
      forkServerDir: dir,
      // No --disable-userns (each execution makes its user namespace, then forbids more) and no --seccomp (each
      // loads the filter on itself once its namespaces and mounts are made, which the filter refuses).
      asPid1: bwrapAccepts(options.bwrapPath, ["--as-pid-1"], options.runAs),
    });
    const argv = forkServerArgv(options.python, { tmpfsBytes: options.tmpfsBytes, seccomp: seccompSpec() }, options.preload);
    const child = spawn(options.bwrapPath, [...sandbox, "--", ...argv], {
      stdio: ["pipe", "pipe", "pipe", "pipe", "pipe"],
      uid: options.runAs,
      gid: options.runAs,
      detached: true,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
    });
    const inputs = child.stdio as unknown as (NodeJS.WritableStream | null | undefined)[];
    for (const stream of [child.stdin, inputs[3], inputs[4]]) stream?.on("error", () => {});
    inputs[3]?.end(passwdFile(options.uid));
    inputs[4]?.end(groupFile(options.uid));
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4096);
    });
    const executions: Mother["executions"] = new Map();
    const exited = new Promise<void>((resolve) => {
      child.once("error", () => resolve());
      child.once("close", () => {
        rmSync(dir, { recursive: true, force: true });
        // Every execution ends with it (bubblewrap's pid namespace, and each one's parent-death signal).
        for (const execution of executions.values()) execution.gone();
        resolve();
      });
    });
    const listening = new Promise<void>((resolve, reject) => {
      let pending = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        const lines = (pending + chunk.toString()).split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          const [word, name = ""] = line.split(" ");
          if (word === "ready") resolve();
          const execution = executions.get(name);
          if (word === "forked" && execution) execution.forked = true;
          if (word === "exited" && execution) execution.gone();
        }
      });
      void exited.then(() => {
        const reason = stderr.trim().split("\n").at(-1) ?? "";
        reject(new Error(`the fork server ended before it listened${reason ? `: ${reason}` : ""}`));
      });
    });
    listening.then(
      // Ended while serving (not by close or a restart): said once; the next sandbox starts a new one.
      () =>
        void exited.then(() => {
          const reason = stderr.trim().split("\n").at(-1) ?? "";
          if (!this.closed && this.mother?.child === child) options.warn(`the fork server ended${reason ? `: ${reason}` : ""}`);
        }),
      (error: Error) => {
        if (!this.closed) options.warn(error.message);
      },
    );
    return { child, dir, socketPath: join(dir, "mother.sock"), envKey: key, listening, exited, executions };
  }
}

/** One execution's sandbox: a connection to the mother, which forks it; its runner answers on the connection. */
function connect(mother: Mother, name: string): SandboxProcess {
  const socket = createConnection(mother.socketPath);
  // Its end (refused, reset) is the sandbox's end: the exchange answers for it.
  socket.on("error", () => {});
  const channel = new RunnerChannel({
    write: (data) => void socket.write(data),
    hangUp: () => void socket.end(),
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
  });
  socket.on("data", (chunk: Buffer) => channel.data(chunk));
  socket.write(`${JSON.stringify({ name })}\n`);
  // Ended once the fork server says its process is gone (reaped), or when the connection ends without one forked.
  const exited = new Promise<string>((resolve) => {
    const execution = { forked: false, gone: () => resolve("exit (ended)") };
    mother.executions.set(name, execution);
    socket.once("close", () => {
      channel.end();
      if (!execution.forked) resolve("exit (its connection closed)");
    });
  });
  void exited.then(() => mother.executions.delete(name));
  const kill = () => {
    if (!socket.destroyed) {
      // The mother ends its process tree at once; closing the connection alone ends a runner that reads it.
      mother.child.stdin?.write(`kill ${name}\n`);
      socket.destroy();
    }
    return exited;
  };
  return { name, channel, exited, kill, finish: kill };
}

async function stopMother(mother: Mother): Promise<void> {
  if (mother.child.exitCode === null && mother.child.signalCode === null) {
    try {
      process.kill(-(mother.child.pid as number), "SIGKILL");
    } catch {
      mother.child.kill("SIGKILL");
    }
  }
  await mother.exited;
}

/** Removes socket directories of servers that have died (the pid their name starts with is gone). */
function removeDeadServersDirectories(base: string): void {
  for (const entry of readdirSync(base)) {
    const pid = Number(entry.split("-")[0]);
    if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue;
    rmSync(join(base, entry), { recursive: true, force: true });
  }
}

function envKey(env: Record<string, string>): string {
  return JSON.stringify(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
