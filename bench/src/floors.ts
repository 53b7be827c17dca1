import { execFile } from "node:child_process";
import { promisify } from "node:util";
import Dockerode from "dockerode";
import { sequential, sustained } from "./stats.ts";

const run = promisify(execFile);

/** `docker run --rm <image> python3 -c <code>`: a fresh container per run, through the CLI. */
export function dockerRun(image: string, code: string) {
  return () => run("docker", ["run", "--rm", "--network", "none", image, "python3", "-c", code]);
}

/** `docker run -d` of a container that waits to be exec'd into (removed with `docker rm -f`). */
async function runDetached(image: string): Promise<string> {
  const { stdout } = await run("docker", [
    "run",
    "-d",
    "--rm",
    "--network",
    "none",
    "--label",
    "code-interpreter.bench=floor",
    image,
    "sleep",
    "600",
  ]);
  return stdout.trim();
}

/** `docker exec` into one running container: `exec(argv)` makes a call that runs `argv` in it. */
export async function withRunningContainer<T>(
  image: string,
  body: (exec: (argv: string[]) => () => Promise<unknown>) => Promise<T>,
): Promise<T> {
  const id = await runDetached(image);
  try {
    return await body((argv) => () => run("docker", ["exec", id, ...argv]));
  } finally {
    await run("docker", ["rm", "-f", id]).catch(() => {});
  }
}

/**
 * The raw floor of a session's create to first result: `docker run -d`, then
 * `docker exec <id> <argv>`, timed until the exec has returned; the
 * `docker rm -f` after it is not timed (as the session's delete is not).
 */
export function dockerRunThenExec(image: string, argv: string[]) {
  return async () => {
    const started = performance.now();
    let id: string | undefined;
    try {
      id = await runDetached(image);
      await run("docker", ["exec", id, ...argv]);
      return performance.now() - started;
    } finally {
      if (id) await run("docker", ["rm", "-f", id]).catch(() => {});
    }
  };
}

/** The engine's own create + start + wait + remove of `python3 -c 'print(1)'`, over the Engine API. */
export async function engineCycleRate(image: string, concurrency: number, seconds: number) {
  const docker = new Dockerode();
  return sustained(concurrency, seconds, async () => {
    const container = await docker.createContainer({
      Image: image,
      Cmd: ["python3", "-c", "print(1)"],
      Labels: { "code-interpreter.bench": "floor" },
      HostConfig: { NetworkMode: "none" },
    });
    try {
      await container.start();
      await container.wait();
    } finally {
      await container.remove({ force: true });
    }
  });
}

/** A bare bubblewrap sandbox (host read-only, nothing shared) running python3. */
export function rawBwrap(code: string, python = "/usr/bin/python3") {
  return bwrap([python, "-c", code]);
}

/** A bare bubblewrap sandbox (host read-only, nothing shared) running `argv`. */
export function bwrap(argv: string[]) {
  return () =>
    run("bwrap", [
      "--unshare-all",
      "--die-with-parent",
      "--ro-bind",
      "/",
      "/",
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--tmpfs",
      "/tmp",
      ...argv,
    ]);
}

export { sequential };
