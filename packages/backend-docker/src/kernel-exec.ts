import type { Duplex } from "node:stream";
import { WORKSPACE_DIR } from "@code-interpreter/core/engine";
import type { RunnerChannel } from "@code-interpreter/core/runner";
import type Dockerode from "dockerode";
import { streamChannel } from "./docker-channel.js";

/** Starts a command by exec in a running container, its stdin, stdout and stderr attached. */
export async function execAttached(
  docker: Dockerode,
  containerId: string,
  user: string,
  argv: string[],
  env?: Record<string, string>,
): Promise<{ exec: Dockerode.Exec; channel: RunnerChannel }> {
  const exec = await docker.getContainer(containerId).exec({
    Cmd: argv,
    User: user,
    WorkingDir: WORKSPACE_DIR,
    ...(env ? { Env: Object.entries(env).map(([key, value]) => `${key}=${value}`) } : {}),
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: false })) as Duplex;
  return { exec, channel: streamChannel(docker, stream) };
}

/**
 * Kills a session's long-lived runner (its Python kernel or its command
 * runner) inside its container, found by its marker: the Engine API cannot
 * kill an exec.
 */
export async function killMarked(docker: Dockerode, containerId: string, user: string, marker: string): Promise<void> {
  const killer = await docker.getContainer(containerId).exec({
    Cmd: ["pkill", "-9", "-f", marker],
    User: user,
    AttachStdout: true,
    AttachStderr: true,
  });
  const output = (await killer.start({ hijack: true, stdin: false })) as Duplex;
  output.resume();
  await new Promise((resolve) => {
    output.once("end", resolve);
    output.once("close", resolve);
    output.once("error", resolve);
  });
}
