import { constants } from "node:os";
import type Dockerode from "dockerode";
import { isGone } from "./engine-errors.js";

/** How long Docker may take to record an exec's end after its stream closed, and how often it is asked meanwhile. */
const EXEC_END_WAIT_MS = 1000;
const EXEC_END_POLL_MS = 200;

/** What `exec inspect` says of a runner's exec; undefined when it is gone (with its container). */
export interface ExecEnd {
  Running: boolean;
  ExitCode: number | null;
}

/** What `container inspect` says of its container's state; undefined when the container is gone. */
export interface ContainerEnd {
  Status: string;
  OOMKilled: boolean;
  ExitCode: number;
  FinishedAt: string;
}

/**
 * How a session's runner (an exec) ended, for a command that got no answer:
 * its exit status (Docker's record of an exec can trail its stream by a
 * moment, so a running one is asked again for up to a second) and its
 * container's state. Two inspects, asked only on that failure.
 */
export async function execExitReport(docker: Dockerode, exec: Dockerode.Exec, containerId: string): Promise<string> {
  const deadline = Date.now() + EXEC_END_WAIT_MS;
  let execEnd = await inspectExec(exec);
  while (execEnd?.Running && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, EXEC_END_POLL_MS));
    execEnd = await inspectExec(exec);
  }
  const container = await docker
    .getContainer(containerId)
    .inspect()
    .then(
      (info) => info.State as ContainerEnd,
      (error: unknown) => {
        if (isGone(error)) return undefined;
        throw error;
      },
    );
  return describeExecEnd(execEnd, container);
}

async function inspectExec(exec: Dockerode.Exec): Promise<ExecEnd | undefined> {
  try {
    const info = await exec.inspect();
    return { Running: info.Running, ExitCode: info.ExitCode };
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
}

/** `exec exit 137 (SIGKILL); container running` and the like: what the two inspects said, in words. */
export function describeExecEnd(exec: ExecEnd | undefined, container: ContainerEnd | undefined): string {
  const execPart =
    exec === undefined
      ? "its exec is gone"
      : exec.Running
        ? "its exec still runs (the connection to it broke)"
        : exec.ExitCode === null
          ? "exec exit unknown"
          : `exec exit ${exec.ExitCode}${signalName(exec.ExitCode)}`;
  if (!container) return `${execPart}; container gone`;
  const ended =
    container.Status === "running" ? "" : ` (exit ${container.ExitCode}${signalName(container.ExitCode)} at ${container.FinishedAt})`;
  // Docker sets OOMKilled when the kernel's OOM killer took any process of the container, also one that runs on.
  const memory = container.OOMKilled ? ", out of memory (OOMKilled)" : "";
  return `${execPart}; container ${container.Status}${ended}${memory}`;
}

/** ` (SIGKILL)` for a shell-style exit status past 128 that names a signal, else empty. */
function signalName(exitCode: number): string {
  if (exitCode <= 128) return "";
  const name = Object.entries(constants.signals).find(([, number]) => number === exitCode - 128)?.[0];
  return name ? ` (${name})` : "";
}
