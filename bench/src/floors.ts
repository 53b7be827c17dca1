import { execFile } from "node:child_process";
import { promisify } from "node:util";
import Dockerode from "dockerode";
import { sequential, sustained } from "./stats.ts";

const run = promisify(execFile);

/** `docker run --rm <image> python3 -c <code>`: a fresh container per run, through the CLI. */
export function dockerRun(image: string, code: string) {
  return () => run("docker", ["run", "--rm", "--network", "none", image, "python3", "-c", code]);
}

/** `docker exec` into one running container. */
export async function withRunningContainer<T>(
  image: string,
  body: (exec: (code: string) => () => Promise<unknown>) => Promise<T>,
): Promise<T> {
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
  const id = stdout.trim();
  try {
    return await body((code) => () => run("docker", ["exec", id, "python3", "-c", code]));
  } finally {
    await run("docker", ["rm", "-f", id]).catch(() => {});
  }
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
      python,
      "-c",
      code,
    ]);
}

export { sequential };
