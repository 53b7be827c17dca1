import { loadRunnerSource } from "./runner-protocol.js";
import { MAIN_FILE } from "./workspace-path.js";

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
