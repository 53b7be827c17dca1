import { WARM_ATTACH_SECONDS } from "@code-interpreter/core/engine";
import {
  kernelArgv,
  loadRunnerSource,
  preloadArguments,
  type RunnerArgvOptions,
  type RunnerLimits,
  type SessionRunnerArgvOptions,
  serveArgv,
} from "@code-interpreter/core/runner";

/**
 * Starts the runner without putting its source on the command line: it
 * reads a length line and that many bytes of source from stdin, then runs
 * them, leaving the rest of stdin (the requests) to the runner. An exec's
 * command travels in the URL, which the API server writes to its audit log
 * and proxies may cap at a few KiB; the runner bundle is about 56 KiB.
 *
 * It reads fd 0 unbuffered, so not one byte past the source is taken from
 * the pipe: a kernel reads its requests from a duplicate of fd 0, and would
 * never see bytes left in a buffer of `sys.stdin`.
 *
 * A pod whose server died before attaching never gets its source: it exits
 * after SOURCE_WAIT_SECONDS (a warm one, which nobody waits for, after
 * core's WARM_ATTACH_SECONDS), rather than wait for its deadline.
 */
const SOURCE_WAIT_SECONDS = 120;
const bootstrap = (waitSeconds = SOURCE_WAIT_SECONDS) => `import os, select
if not select.select([0], [], [], ${waitSeconds})[0]:
    raise SystemExit(0)
def _take(size):
    parts = []
    while size > 0:
        part = os.read(0, size)
        if not part:
            raise SystemExit(0)
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
_line = b""
while not _line.endswith(b"\\n"):
    _line += _take(1)
exec(compile(_take(int(_line)), "runner.py", "exec"))`;

/**
 * argv of the bootstrapped one-shot runner; with `preload` it imports those
 * modules (once it has its source) before it waits for the request. A `warm`
 * one gives up on its source after WARM_ATTACH_SECONDS.
 */
export function bootstrapArgv(python = "python3", options: RunnerArgvOptions & { warm?: boolean } = {}): string[] {
  const { warm, ...runner } = options;
  return [python, "-I", "-c", bootstrap(warm ? WARM_ATTACH_SECONDS : undefined), ...preloadArguments(runner)];
}

/**
 * argv of a bootstrapped Python kernel: core's `kernelArgv` (its `--kernel`
 * arguments and marker, not isolated mode) with the bootstrap for source.
 */
export function kernelBootstrapArgv(python = "python3", limits: RunnerLimits = {}, options: SessionRunnerArgvOptions = {}): string[] {
  return [python, "-c", bootstrap(), ...kernelArgv(python, limits, options).slice(3)];
}

/** argv of a bootstrapped command runner: core's `serveArgv` (`--serve` and its marker) with the bootstrap for source. */
export function serveBootstrapArgv(python = "python3", options: SessionRunnerArgvOptions = {}): string[] {
  const argv = serveArgv(python, options);
  // What follows the source: `--serve` and the marker.
  return [python, "-I", "-c", bootstrap(), ...argv.slice(argv.indexOf("--serve"))];
}

/** What goes to the bootstrap's stdin before the runner request. */
export function bootstrapPreamble(): Buffer {
  const source = Buffer.from(loadRunnerSource(), "utf8");
  return Buffer.concat([Buffer.from(`${source.length}\n`), source]);
}
