import { PassThrough, Writable } from "node:stream";
import { KERNEL_MARKER, kernelOverTransport, type PythonKernel, type RunnerLimits } from "@code-interpreter/core";
import type { KubeApi, StreamSocket } from "./kube-api.js";
import type { KubernetesBackendSettings } from "./kubernetes-backend-settings.js";
import { EXECUTOR_CONTAINER } from "./pod-spec.js";
import { bootstrapPreamble, kernelBootstrapArgv } from "./runner-bootstrap.js";

/** How long the exec that stops a kernel may take before the server stops waiting for it. */
const KILL_WAIT_MS = 10_000;

/**
 * Starts a session's Python kernel by exec in its pod and keeps the exec's
 * WebSocket open: each cell is then a write and a read, with no exec of its
 * own. The kernel gets the runner's source first (the bootstrap), then the
 * requests. It runs with the pod's environment (the code's: see
 * `sandboxEnv`), since an exec cannot set one. A server that goes away takes
 * its kernels with it (their stdin ends); the files stay in the pod.
 */
export async function startKernel(
  api: KubeApi,
  settings: KubernetesBackendSettings,
  pod: string,
  limits: RunnerLimits,
): Promise<PythonKernel> {
  const stdin = new PassThrough();
  const listeners: ((chunk: Buffer) => void)[] = [];
  const socket = await api.exec(
    pod,
    EXECUTOR_CONTAINER,
    kernelBootstrapArgv("python3", limits),
    {
      stdin,
      stdout: sink((chunk) => {
        for (const listener of listeners) listener(chunk);
      }),
      // The kernel's own stderr (not the code's, which travels framed): nothing to keep.
      stderr: sink(() => {}),
    },
    () => {},
  );
  stdin.write(bootstrapPreamble());
  const hangUp = () => {
    stdin.destroy();
    socket.terminate();
  };
  return kernelOverTransport(
    {
      write: (data) => stdin.write(data),
      onData: (listener) => listeners.push(listener),
      onClose: (listener) => {
        if (socket.readyState === socket.CLOSED) return listener();
        socket.once("close", listener);
        socket.once("error", listener);
      },
      // The API cannot kill an exec (and the kubelet lets one run on after its client hangs up): find
      // the kernel by its marker, inside the pod's container, and kill it there.
      kill: async () => {
        hangUp();
        await killKernels(api, pod);
      },
      close: hangUp,
    },
    { maxSnapshotBytes: settings.workspaceSizeMb * 1024 * 1024 },
  );
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
  const stdin = new PassThrough();
  let socket: StreamSocket | undefined;
  try {
    socket = await api.exec(
      pod,
      EXECUTOR_CONTAINER,
      ["python3", "-I", "-c", killerSource()],
      { stdin, stdout: sink(() => {}), stderr: sink(() => {}) },
      () => {},
    );
    const open = socket;
    await new Promise<void>((resolve) => {
      if (open.readyState === open.CLOSED) return resolve();
      const timer = setTimeout(resolve, KILL_WAIT_MS);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      open.once("close", done);
      open.once("error", done);
    });
  } finally {
    stdin.destroy();
    socket?.terminate();
  }
}

function sink(take: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      take(chunk);
      callback();
    },
  });
}
