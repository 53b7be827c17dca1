import { type ChildProcess, spawn } from "node:child_process";
import {
  BackendUnavailableError,
  encodeRunnerRequest,
  type OutputChunk,
  type RunnerRequest,
  RunnerResponseDecoder,
  type RunnerResult,
  runnerArgv,
} from "@code-interpreter/core";
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
  /** What to run instead of the runner (a session's Python kernel). */
  argv?: string[];
}

/** A started sandbox whose runner waits for its request on stdin. */
export interface SandboxProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  diagnostics(): string;
}

export interface ConverseOptions {
  request: RunnerRequest;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
  maxSnapshotBytes?: number;
  /** Live sandboxes, by child process: this one is in it while it works. */
  registry?: Map<ChildProcess, string>;
}

/** Time past the code's own timeout before the server stops waiting for the runner. */
const BACKSTOP_MS = 10_000;
const MAX_DIAGNOSTIC_BYTES = 64 * 1024;
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
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8", ...(options.isolation === "none" ? options.env : {}) },
  });
  const diagnostics: Buffer[] = [];
  let diagnosticBytes = 0;
  child.stderr?.on("data", (chunk: Buffer) => {
    if (diagnosticBytes < MAX_DIAGNOSTIC_BYTES) diagnostics.push(chunk);
    diagnosticBytes += chunk.length;
  });
  // The sandbox may exit before reading all of its input; that is its answer, not ours to crash on.
  // Fds 3-5 carry /etc/passwd, /etc/group and the seccomp filter into bubblewrap.
  const inputs = child.stdio as unknown as (NodeJS.WritableStream | null | undefined)[];
  for (const stream of [child.stdin, inputs[3], inputs[4], inputs[5]]) stream?.on("error", () => {});
  inputs[3]?.end(passwdFile(options.uid));
  inputs[4]?.end(groupFile(options.uid));
  inputs[5]?.end(options.isolation === "bwrap" ? (SECCOMP_PROGRAM ?? "") : "");
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("error", (error) => {
      // Could not even start it (ENOENT, EACCES): that is the reason the answer gives.
      diagnostics.push(Buffer.from(`could not start ${command}: ${error.message}`));
      resolve({ code: null, signal: null });
    });
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  return { name: options.name, child, exited, diagnostics: () => Buffer.concat(diagnostics).toString("utf8").trim() };
}

/**
 * Sends a sandbox its request and reads the framed answer. The sandbox (and
 * everything in it) is gone when this settles, whatever happened.
 */
export async function converse(sandbox: SandboxProcess, options: ConverseOptions): Promise<RunnerResult> {
  const { request } = options;
  const { child } = sandbox;
  options.registry?.set(child, sandbox.name);
  const decoder = new RunnerResponseDecoder(request.maxOutputBytes, options.onOutput);
  let stopped: "backstop" | "abort" | undefined;
  const kill = (why: "backstop" | "abort") => {
    stopped ??= why;
    child.kill("SIGKILL");
  };
  const onAbort = () => kill("abort");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const backstop = setTimeout(() => kill("backstop"), (request.timeoutMs ?? 0) + BACKSTOP_MS);
  child.stdout?.on("data", (chunk: Buffer) => decoder.push(chunk));
  try {
    if (options.signal?.aborted) onAbort();
    // Stdin stays open until the answer: its end tells the runner this server is gone.
    child.stdin?.write(await encodeRunnerRequest(request));
    const exit = await sandbox.exited;
    if (stopped === "abort") throw options.signal?.reason ?? new Error("aborted");
    const result = await decoder.finish({ maxBytes: options.maxSnapshotBytes });
    if (result) return result;
    if (stopped === "backstop") {
      return {
        ...decoder.partialOutput(),
        exitCode: null,
        timedOut: true,
        durationMs: request.timeoutMs ?? 0,
        snapshot: [],
        snapshotTruncated: false,
      };
    }
    const detail = sandbox.diagnostics();
    throw new BackendUnavailableError({
      message: `the sandbox ended without an answer (exit ${exit.code ?? exit.signal})${detail ? `: ${detail}` : ""}`,
    });
  } finally {
    clearTimeout(backstop);
    options.signal?.removeEventListener("abort", onAbort);
    child.stdin?.end();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await sandbox.exited;
    }
    options.registry?.delete(child);
  }
}

/** Stops a sandbox that was never used. */
export async function discard(sandbox: SandboxProcess): Promise<void> {
  sandbox.child.kill("SIGKILL");
  await sandbox.exited;
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
    asPid1: options.argv === undefined && bwrapAccepts(options.bwrapPath, ["--as-pid-1"], options.runAs),
  });
  return [options.bwrapPath, [...sandbox, "--", ...runner]];
}
