import { KERNEL_MARKER, type KernelHandle, type RunnerLimits } from "@code-interpreter/core";
import type { KubeApi } from "./kube-api.js";
import { podChannel } from "./pod-channel.js";
import { EXECUTOR_CONTAINER } from "./pod-spec.js";
import { kernelBootstrapArgv } from "./runner-bootstrap.js";

/** How long the exec that stops a kernel may take before the server stops waiting for it. */
const KILL_WAIT_MS = 10_000;

/**
 * Starts a session's Python kernel by exec in its pod and keeps the exec's
 * WebSocket open: each cell is then a write and a read, with no exec of its
 * own. It runs with the pod's environment (the code's: see `sandboxEnv`),
 * since an exec cannot set one. A server that goes away takes its kernels
 * with it (their stdin ends); the files stay in the pod.
 */
export async function startKernel(api: KubeApi, pod: string, limits: RunnerLimits): Promise<KernelHandle> {
  const argv = kernelBootstrapArgv("python3", limits);
  const channel = await podChannel((streams) => api.exec(pod, EXECUTOR_CONTAINER, argv, streams, () => {}));
  return {
    channel,
    // The API cannot kill an exec (and the kubelet lets one run on after its client hangs up): find
    // the kernel by its marker, inside the pod's container, and kill it there.
    kill: async () => {
      channel.hangUp();
      await killKernels(api, pod);
    },
  };
}

/**
 * SIGKILL to every process of the container whose command line carries the
 * kernel marker, by a Python exec (any image with python3 has it; pkill may
 * not be there). Its own command line spells the marker in two pieces.
 */
const killerSource = () => {
  const half = Math.floor(KERNEL_MARKER.length / 2);
  return `import os, signal
marker = (${JSON.stringify(KERNEL_MARKER.slice(0, half))} + ${JSON.stringify(KERNEL_MARKER.slice(half))}).encode()
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

async function killKernels(api: KubeApi, pod: string): Promise<void> {
  const argv = ["python3", "-I", "-c", killerSource()];
  const channel = await podChannel((streams) => api.exec(pod, EXECUTOR_CONTAINER, argv, streams, () => {}), { bootstrap: false });
  let timer: NodeJS.Timeout | undefined;
  const patience = new Promise((resolve) => {
    timer = setTimeout(resolve, KILL_WAIT_MS);
  });
  await Promise.race([channel.closed, patience]);
  clearTimeout(timer);
  channel.hangUp();
}
