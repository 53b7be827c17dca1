// The commands that start the in-sandbox runner (one-shot, kernel, command runner,
// Python code), each carrying the runner's source, read once from the package.

import { readFileSync } from "node:fs";
import { packageFile } from "../package-file.js";
import { ociSeccompProfile, type SeccompArchitecture, SYSCALL_NUMBERS, type SyscallDenial, seccompBpf } from "../policy/index.js";
import { MAIN_FILE } from "../workspace/workspace-path.js";
import type { RunnerLimits } from "./runner-protocol.js";

let runnerSource: string | undefined;

/** The runner's Python source (shipped in this package's `runner/` folder). */
export function loadRunnerSource(): string {
  runnerSource ??= readFileSync(packageFile("runner/runner.py"), "utf8");
  return runnerSource;
}

/**
 * argv that starts the runner with the sandbox's python; the request goes to
 * its stdin. With `preload` it imports those modules before it reads the
 * request (a warm sandbox) and runs Python code in a fork of itself; it must
 * then be started with the environment the code will have, since modules read
 * it when they are imported.
 */
export function runnerArgv(python = "python3", options: RunnerArgvOptions = {}): string[] {
  return [python, "-I", "-c", loadRunnerSource(), ...preloadArguments(options)];
}

/**
 * argv that starts the fork server (the runner's `--fork-server` mode, backend-local): it imports `preload` once,
 * listens on the Unix socket in `config.socketDir`'s place inside its sandbox, and forks each one-shot execution's
 * sandbox from itself, in fresh namespaces, its runner warm and parked. `config.seccomp` is the syscall filter each
 * execution loads on itself (`<machine>=<base64 BPF>`): the fork server itself must make namespaces and mounts.
 */
export function forkServerArgv(python: string, config: ForkServerConfig, preload: readonly string[] = []): string[] {
  const json = JSON.stringify({ tmpfs_bytes: config.tmpfsBytes, seccomp: config.seccomp ?? null });
  return [python, "-I", "-c", loadRunnerSource(), "--fork-server", json, ...(preload.length > 0 ? ["--preload", preload.join(",")] : [])];
}

/** What the fork server (`forkServerArgv`) gives each execution's sandbox. */
export interface ForkServerConfig {
  /** Size of each execution's tmpfs `/tmp`, `/workspace` and `/dev/shm`. */
  tmpfsBytes: number;
  /** The syscall filter each execution loads, `<machine>=<base64 BPF>`; none without. */
  seccomp?: string;
}

/** How a one-shot runner is started (`runnerArgv`). */
export interface RunnerArgvOptions {
  /** Modules to import before the request comes (a warm sandbox). */
  preload?: readonly string[];
  /**
   * With `preload`: once the child that will run the code is forked, both
   * it and the runner write to every page they share, taking the fork's
   * copy-on-write faults before the sandbox says it is ready instead of while
   * answering. For gVisor's ptrace platform, where each fault is a round trip
   * through its kernel (a request's answer 3-5x faster); it costs each warm
   * sandbox its own copy of those pages (about 50 MB with the data stack).
   */
  prefault?: boolean;
}

/** The runner's arguments after its source for `options`: `--preload <modules> [--prefault]`, or none. */
export function preloadArguments(options: RunnerArgvOptions): string[] {
  if (!options.preload?.length) return [];
  return ["--preload", options.preload.join(","), ...(options.prefault ? ["--prefault"] : [])];
}

/** Marks a kernel's command line, so a backend can find and stop it (e.g. `pkill -f`). */
export const KERNEL_MARKER = "code-interpreter-kernel";

/**
 * argv that starts a Python kernel: requests one after another on stdin, the
 * code of each run in the kernel itself so its variables stay. Not isolated
 * mode: the code needs the normal module search path. `limits` apply to the
 * kernel (CPU time excepted: each cell's timeout bounds it).
 */
export function kernelArgv(python = "python3", limits: RunnerLimits = {}, options: SessionRunnerArgvOptions = {}): string[] {
  const json = JSON.stringify({
    address_space_bytes: limits.addressSpaceBytes,
    processes: limits.processes,
    file_size_bytes: limits.fileSizeBytes,
    open_files: limits.openFiles,
  });
  return [python, "-c", loadRunnerSource(), "--kernel", json, KERNEL_MARKER, ...syscallFilterArguments(options.syscallPolicy)];
}

/** How a session's runner (`kernelArgv`, `serveArgv`) is started. */
export interface SessionRunnerArgvOptions {
  /**
   * A syscall policy the runner loads on itself (a seccomp filter, with
   * no_new_privs) before it serves, so it and everything it starts are under
   * it: for a runner started by exec where the sandbox's own filter does not
   * reach (runsc applies it to the container's first process only). The
   * runner stops rather than serve without it.
   */
  syscallPolicy?: readonly SyscallDenial[];
}

/**
 * The runner's trailing `--seccomp x86_64=<base64>,aarch64=<base64>`: the
 * policy's BPF program for each architecture core knows (the runner loads its
 * machine's), or nothing without a policy.
 */
export function syscallFilterArguments(policy: readonly SyscallDenial[] | undefined): string[] {
  if (policy === undefined) return [];
  const profile = ociSeccompProfile(policy);
  const programs = (Object.keys(SYSCALL_NUMBERS) as SeccompArchitecture[]).map(
    (architecture) => `${architecture}=${seccompBpf(profile, architecture).toString("base64")}`,
  );
  return ["--seccomp", programs.join(",")];
}

/** Marks a session's command runner's command line (see `serveArgv`), so a backend can find and stop it. */
export const SERVE_MARKER = "code-interpreter-serve";

/**
 * argv that starts a session's command runner: requests one after another on
 * stdin, each answered as a one-shot runner answers its one (each command a
 * fresh process), until its input ends. One per session, kept open, so a
 * command costs a write and a read instead of an exec.
 */
export function serveArgv(python = "python3", options: SessionRunnerArgvOptions = {}): string[] {
  return [python, "-I", "-c", loadRunnerSource(), "--serve", SERVE_MARKER, ...syscallFilterArguments(options.syscallPolicy)];
}

/**
 * The argv that runs Python code in `/workspace`: the runner's `--run-main`
 * mode runs the file as `__main__.py`, with last-line-interactive shows a bare
 * last expression like the REPL (`sys.displayhook`: repr, nothing for None),
 * and sends what the code displays as rich results. Code that does not parse
 * is reported by Python as usual, and tracebacks leave the wrapper out.
 */
export function pythonArgv(options: { python?: string; lastLineInteractive: boolean; file?: string }): string[] {
  const python = options.python ?? "python3";
  const file = options.file ?? MAIN_FILE;
  return [python, "-c", loadRunnerSource(), "--run-main", file, options.lastLineInteractive ? "1" : "0"];
}

/**
 * `argv` (one of the above) with the egress forwarder started first (issue 22): the runner
 * starts it on 127.0.0.1:`port`, relaying to the proxy's socket at `socketPath`, and waits
 * until it listens before it takes a request.
 */
export function withEgressForwarder(argv: readonly string[], socketPath: string, port: number): string[] {
  const source = argv.indexOf("-c") + 1;
  if (source === 0 || source >= argv.length) throw new Error("withEgressForwarder: not a runner command line (no -c <source>)");
  return [...argv.slice(0, source + 1), "--egress", String(port), socketPath, ...argv.slice(source + 1)];
}
