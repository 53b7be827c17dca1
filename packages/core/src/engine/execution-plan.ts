import { randomUUID } from "node:crypto";
import type { CommandResult, ExecuteOptions, ExecutionResult, Language, SessionCommandOptions } from "../backend.js";
import { pythonArgv } from "../runner/runner-commands.js";
import type { RunnerLimits, RunnerRequest, RunnerResult } from "../runner/runner-protocol.js";
import { sandboxEnvironment } from "../sandbox/environment.js";
import { MAIN_FILE } from "../workspace/workspace-path.js";
import { changedFiles, contentOf, readContent, type WorkspaceFileContent, type WorkspaceFileSink } from "../workspace/workspace-tar.js";

/** Where code runs in every sandbox. */
export const WORKSPACE_DIR = "/workspace";

/** The environment code sees: the declared one (environment/environment.conf), nothing of the server's. */
export const DECLARED_ENV_VARIABLES: Readonly<Record<string, string>> = Object.freeze(sandboxEnvironment().env);

/** Settings every backend shares for the runner requests it sends. */
export interface RunnerPlanSettings {
  python?: string;
  maxOutputBytes: number;
  limits?: RunnerLimits;
  env?: Record<string, string>;
  maxSnapshotBytes?: number;
}

/** The command that runs a script of a language other than Python. */
function scriptArgv(language: Exclude<Language, "python">, path: string): string[] {
  return language === "javascript" ? ["node", path] : ["bash", path];
}

/** Where a non-Python script goes: /tmp, so the workspace holds only what the code writes. */
function scriptPath(language: Exclude<Language, "python">): string {
  return `/tmp/.code-interpreter-${randomUUID()}.${language === "javascript" ? "js" : "sh"}`;
}

/** A non-Python program written to a file in /tmp and run from there. */
function scriptCode(language: Exclude<Language, "python">, content: string): Pick<RunnerRequest, "argv" | "script"> {
  const path = scriptPath(language);
  return { argv: scriptArgv(language, path), script: { path, content } };
}

/** What every runner request takes from the run's options and the plan's settings alike. */
function runSettings(
  options: { stdin?: string | null; timeoutMs: number },
  settings: RunnerPlanSettings,
): Pick<RunnerRequest, "cwd" | "env" | "stdin" | "timeoutMs" | "maxOutputBytes" | "limits"> {
  return {
    cwd: WORKSPACE_DIR,
    env: { ...DECLARED_ENV_VARIABLES, ...settings.env },
    stdin: options.stdin ?? null,
    timeoutMs: options.timeoutMs,
    maxOutputBytes: settings.maxOutputBytes,
    limits: settings.limits,
  };
}

/** The runner request for a one-shot execution: stage, run, kill everything, snapshot. */
export function planExecution(options: ExecuteOptions, settings: RunnerPlanSettings): RunnerRequest {
  const language = options.language ?? "python";
  const code: Pick<RunnerRequest, "argv" | "inline" | "script" | "files"> =
    language === "python"
      ? {
          argv: pythonArgv({ python: settings.python, lastLineInteractive: options.lastLineInteractive }),
          inline: { file: MAIN_FILE, showLast: options.lastLineInteractive },
          files: inputsWithCode(options),
        }
      : { ...scriptCode(language, options.code), files: [...options.files] };
  return { ...code, ...runSettings(options, settings), killAll: true, snapshot: true, maxSnapshotBytes: settings.maxSnapshotBytes };
}

/** The runner request for a command in a session. */
export function planSessionCommand(options: SessionCommandOptions, settings: RunnerPlanSettings): RunnerRequest {
  const python = options.language === "python";
  const javascript = options.language === "javascript";
  const script = python ? `/tmp/.code-interpreter-${randomUUID()}.py` : scriptPath("javascript");
  return {
    argv: python
      ? pythonArgv({ python: settings.python, lastLineInteractive: options.lastLineInteractive ?? true, file: script })
      : javascript
        ? scriptArgv("javascript", script)
        : ["bash", "-c", options.code],
    // The code goes to /tmp, not the workspace, so a session's own __main__.py is left alone.
    script: python || javascript ? { path: script, content: options.code } : undefined,
    ...runSettings(options, settings),
    killAll: false,
    snapshot: false,
  };
}

/**
 * Main process of a long-lived session sandbox (container or pod): reaps the
 * orphans that commands leave (they would otherwise stay zombies and use up
 * the pids limit). It ignores SIGINT, so code in the session cannot stop its
 * own sandbox that way, and is not dumpable, so even where ptrace is allowed
 * (the seccomp policy denies it) code cannot attach to it or read its memory.
 */
export function sessionInitArgv(python = "python3"): string[] {
  return [python, "-I", "-c", SESSION_INIT];
}

const SESSION_INIT = `import ctypes, os, signal, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(1)
`;

/** The request for one cell of a session's Python kernel. */
export function planPythonCell(options: SessionCommandOptions, settings: RunnerPlanSettings): RunnerRequest {
  return {
    cell: { code: options.code, showLast: options.lastLineInteractive ?? true },
    cwd: WORKSPACE_DIR,
    stdin: options.stdin ?? null,
    timeoutMs: options.timeoutMs,
    maxOutputBytes: settings.maxOutputBytes,
    maxSnapshotBytes: settings.maxSnapshotBytes,
  };
}

/** The staged inputs plus, for Python, the code itself as `__main__.py`. */
export function inputsWithCode(options: Pick<ExecuteOptions, "code" | "files" | "language">): WorkspaceFileContent[] {
  if ((options.language ?? "python") !== "python") return [...options.files];
  return [...options.files, { path: MAIN_FILE, content: Buffer.from(options.code) }];
}

/** `onFile`, handed only the files of the snapshot that are new or changed (an execution's outputs), in the order they come. */
export function changedFileSink(
  options: Pick<ExecuteOptions, "code" | "files" | "language">,
  onFile: WorkspaceFileSink,
): WorkspaceFileSink {
  const inputs = new Map(inputsWithCode(options).map((file) => [file.path, file.content]));
  return async (file) => {
    const input = inputs.get(file.path);
    if (input === undefined || input.length !== file.size) return onFile(file);
    // As large as the input, which is in memory anyway: read it to compare.
    const content = await readContent(file.content);
    if (!content.equals(input)) return onFile({ ...file, content: contentOf(content) });
  };
}

/** Turns the runner's answer into the execution result: only new or changed files come back. */
export function executionResult(options: ExecuteOptions, result: RunnerResult, durationMs: number): ExecutionResult {
  return {
    ...commandResult(result, durationMs),
    files: changedFiles(inputsWithCode(options), result.snapshot),
  };
}

export function commandResult(result: RunnerResult, durationMs: number): CommandResult {
  return {
    stdout: result.stdout,
    stderr: result.stderr,
    exitCode: result.timedOut ? null : result.exitCode,
    timedOut: result.timedOut,
    durationMs,
    // A cell's figures come back as files; a bash command has none.
    ...(result.snapshot.length > 0 ? { files: result.snapshot } : {}),
    ...(result.skippedFiles?.length ? { skippedFiles: result.skippedFiles } : {}),
    results: result.results ?? [],
    error: result.error ?? null,
    ...(result.executionCount === undefined ? {} : { executionCount: result.executionCount }),
  };
}
