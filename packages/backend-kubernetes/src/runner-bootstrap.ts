import { loadRunnerSource } from "@code-interpreter/core";

/**
 * Starts the runner without putting its source on the command line: it
 * reads a length line and that many bytes of source from stdin, then runs
 * them, leaving the rest of stdin (the request) to the runner. An exec's
 * command travels in the URL, which the API server writes to its audit log
 * and proxies may cap at a few KiB; the runner is ~15 KiB.
 */
const BOOTSTRAP =
  'import sys\nsource = sys.stdin.buffer.read(int(sys.stdin.buffer.readline()))\nexec(compile(source, "runner.py", "exec"))';

/** argv of the bootstrapped runner. */
export function bootstrapArgv(python = "python3"): string[] {
  return [python, "-I", "-c", BOOTSTRAP];
}

/** What goes to the bootstrap's stdin before the runner request. */
export function bootstrapPreamble(): Buffer {
  const source = Buffer.from(loadRunnerSource(), "utf8");
  return Buffer.concat([Buffer.from(`${source.length}\n`), source]);
}
