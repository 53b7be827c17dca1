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
import { bwrapArgs, groupFile, passwdFile } from "./bwrap-args.js";

/** How a sandbox is made: bubblewrap, or (with a warning) a plain child process. */
export type Isolation = "bwrap" | "none";

export interface SandboxProcessOptions {
  isolation: Isolation;
  bwrapPath: string;
  python: string;
  /** Spawn as this uid/gid (only when the server runs as root). */
  runAs?: number;
  uid: number;
  tmpfsBytes: number;
  name: string;
  request: RunnerRequest;
  /** Host directory that is the workspace (sessions; one-shot runs without bubblewrap). */
  workspaceDir?: string;
  onOutput?: (chunk: OutputChunk) => void;
  signal?: AbortSignal;
  maxSnapshotBytes?: number;
  /** Live sandboxes, by child process: this one is in it while it runs. */
  registry?: Map<ChildProcess, string>;
}

/** Time past the code's own timeout before the server stops waiting for the runner. */
const BACKSTOP_MS = 10_000;
const MAX_DIAGNOSTIC_BYTES = 64 * 1024;

/**
 * Starts one sandbox with the runner in it, sends it the request, and reads
 * its framed answer. The sandbox (and everything in it) is gone when this
 * settles, whatever happened.
 */
export async function runSandboxProcess(options: SandboxProcessOptions): Promise<RunnerResult> {
  const { request } = options;
  options.signal?.throwIfAborted();
  const input = await encodeRunnerRequest(request);
  const [command, args] = commandLine(options);
  const child = spawn(command, args, {
    stdio: ["pipe", "pipe", "pipe", "pipe", "pipe"],
    uid: options.runAs,
    gid: options.runAs,
    cwd: options.isolation === "none" ? options.workspaceDir : undefined,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
  });
  options.registry?.set(child, options.name);
  const decoder = new RunnerResponseDecoder(request.maxOutputBytes, options.onOutput);
  const diagnostics: Buffer[] = [];
  let diagnosticBytes = 0;
  let stopped: "backstop" | "abort" | undefined;

  const kill = (why: "backstop" | "abort") => {
    stopped ??= why;
    child.kill("SIGKILL");
  };
  const onAbort = () => kill("abort");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const backstop = setTimeout(() => kill("backstop"), (request.timeoutMs ?? 0) + BACKSTOP_MS);

  child.stdout?.on("data", (chunk: Buffer) => decoder.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => {
    if (diagnosticBytes < MAX_DIAGNOSTIC_BYTES) diagnostics.push(chunk);
    diagnosticBytes += chunk.length;
  });
  // The sandbox may exit before reading all of its input; that is its answer, not ours to crash on.
  for (const stream of [child.stdin, child.stdio[3], child.stdio[4]]) stream?.on("error", () => {});
  (child.stdio[3] as NodeJS.WritableStream | null)?.end(passwdFile(options.uid));
  (child.stdio[4] as NodeJS.WritableStream | null)?.end(groupFile(options.uid));
  child.stdin?.end(input);

  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => resolve({ code, signal }));
    });
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
    const detail = Buffer.concat(diagnostics).toString("utf8").trim();
    throw new BackendUnavailableError({
      message: `the sandbox ended without an answer (exit ${exit.code ?? exit.signal})${detail ? `: ${detail}` : ""}`,
    });
  } finally {
    clearTimeout(backstop);
    options.signal?.removeEventListener("abort", onAbort);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    options.registry?.delete(child);
  }
}

function commandLine(options: SandboxProcessOptions): [string, string[]] {
  const runner = runnerArgv(options.python);
  if (options.isolation === "none") return [runner[0] as string, runner.slice(1)];
  const sandbox = bwrapArgs({
    name: options.name,
    uid: options.uid,
    workspaceDir: options.workspaceDir,
    tmpfsBytes: options.tmpfsBytes,
    passwdFd: 3,
    groupFd: 4,
  });
  return [options.bwrapPath, [...sandbox, "--", ...runner]];
}
