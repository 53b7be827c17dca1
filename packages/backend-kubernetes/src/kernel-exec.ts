import type { PersistentRunnerHandle } from "@code-interpreter/core/engine";
import type { KubeApi } from "./kube-api.js";
import { podChannel } from "./pod-channel.js";
import { EXECUTOR_CONTAINER } from "./pod-spec.js";

/** How long the exec that stops a runner may take before the server stops waiting for it. */
const KILL_WAIT_MS = 10_000;

/**
 * Starts a session's long-lived runner (its Python kernel, or its command
 * runner) by exec in its pod and keeps the exec's WebSocket open: each
 * request is then a write and a read, with no exec of its own. It runs with
 * the pod's environment (the code's: see `sandboxEnv`), since an exec cannot
 * set one. A server that goes away takes these with it (their stdin ends);
 * the files stay in the pod. `marker` is on its command line.
 */
export async function startMarked(api: KubeApi, pod: string, argv: string[], marker: string): Promise<PersistentRunnerHandle> {
  const channel = await podChannel((streams) => api.exec(pod, EXECUTOR_CONTAINER, argv, streams, () => {}));
  return {
    channel,
    // The API cannot kill an exec (and the kubelet lets one run on after its client hangs up): find
    // the runner by its marker, inside the pod's container, and kill it there.
    kill: async () => {
      channel.hangUp();
      await killMarked(api, pod, marker);
    },
  };
}

/**
 * SIGKILL to every process of the container whose command line carries
 * `marker`, by a Python exec (any image with python3 has it; pkill may not
 * be there). Its own command line spells the marker in two pieces.
 */
const killerSource = (marker: string) => {
  const half = Math.floor(marker.length / 2);
  return `import os, signal
marker = (${JSON.stringify(marker.slice(0, half))} + ${JSON.stringify(marker.slice(half))}).encode()
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) == os.getpid():
        continue
    try:
        with open("/proc/%s/cmdline" % entry, "rb") as handle:
            if marker in handle.read().split(b"\\0"):
                os.kill(int(entry), signal.SIGKILL)
    except OSError:
        pass
`;
};

async function killMarked(api: KubeApi, pod: string, marker: string): Promise<void> {
  const argv = ["python3", "-I", "-c", killerSource(marker)];
  const channel = await podChannel((streams) => api.exec(pod, EXECUTOR_CONTAINER, argv, streams, () => {}), { bootstrap: false });
  let timer: NodeJS.Timeout | undefined;
  const patience = new Promise((resolve) => {
    timer = setTimeout(resolve, KILL_WAIT_MS);
  });
  await Promise.race([channel.closed, patience]);
  clearTimeout(timer);
  channel.hangUp();
}
