import type { Duplex } from "node:stream";
import { Writable } from "node:stream";
import { KERNEL_MARKER, kernelOverTransport, type PythonKernel, WORKSPACE_DIR } from "@code-interpreter/core";
import type { DockerBackendSettings } from "./docker-backend-settings.js";

/**
 * Starts a session's Python kernel by exec in its container and keeps the
 * exec's stream open: each call is then a write and a read, with no exec of
 * its own. The kernel ends when the stream closes (a server that goes away
 * takes its kernels with it; the files stay in the container).
 */
export async function startKernel(
  settings: DockerBackendSettings,
  containerId: string,
  argv: string[],
  env: Record<string, string>,
): Promise<PythonKernel> {
  const container = settings.docker.getContainer(containerId);
  const user = `${settings.sandboxUid}:${settings.sandboxUid}`;
  const exec = await container.exec({
    Cmd: argv,
    User: user,
    WorkingDir: WORKSPACE_DIR,
    Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: false })) as Duplex;
  const listeners: ((chunk: Buffer) => void)[] = [];
  settings.docker.modem.demuxStream(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const listener of listeners) listener(chunk);
        callback();
      },
    }),
    // The kernel's own stderr (not the code's, which travels framed): nothing to keep.
    new Writable({ write: (_chunk, _encoding, callback) => callback() }),
  );
  return kernelOverTransport(
    {
      write: (data) => stream.write(data),
      onData: (listener) => listeners.push(listener),
      onClose: (listener) => {
        stream.once("close", listener);
        stream.once("end", listener);
        stream.once("error", listener);
      },
      // The Engine API cannot kill an exec: find the kernel by its marker, inside the container.
      kill: async () => {
        stream.destroy();
        const killer = await container.exec({
          Cmd: ["pkill", "-9", "-f", KERNEL_MARKER],
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
      },
      close: () => stream.destroy(),
    },
    { maxSnapshotBytes: settings.workspaceSizeMb * 1024 * 1024 },
  );
}
