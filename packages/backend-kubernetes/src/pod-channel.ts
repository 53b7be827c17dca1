import { PassThrough, type Readable, type Writable } from "node:stream";
import { channelWritables, RunnerChannel } from "@code-interpreter/core/runner";
import type { V1Status } from "@kubernetes/client-node";
import type { StreamSocket } from "./kube-api.js";
import { bootstrapPreamble } from "./runner-bootstrap.js";

/** The streams handed to exec or attach. */
export interface PodStreams {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
}

/** Opens the exec or attach WebSocket with these streams; `onStatus` receives channel 3 (the exec's status). */
export type OpenPodStreams = (streams: PodStreams, onStatus: (status: V1Status) => void) => Promise<StreamSocket>;

/**
 * An exec or attach WebSocket to a bootstrapped runner (or kernel) as its
 * channel, sent the runner's source before anything else (see
 * runner-bootstrap.ts) unless `bootstrap` is false, then `afterBootstrap`. A failed exec's status (other than the command's
 * own non-zero exit) is kept as a diagnostic.
 *
 * Stdin is never ended: on the v4 protocol the client ends stdin by closing
 * the whole socket, and the runner needs no end of input anyway (its header
 * says how many bytes follow). Hanging up terminates the socket.
 */
export async function podChannel(
  open: OpenPodStreams,
  options: { bootstrap?: boolean; afterBootstrap?: Buffer } = {},
): Promise<RunnerChannel> {
  const stdin = new PassThrough();
  let socket: StreamSocket | undefined;
  const channel = new RunnerChannel({
    write: (data) => void stdin.write(data),
    hangUp: () => {
      stdin.destroy();
      socket?.terminate();
    },
    // A paused WebSocket stops reading its TCP socket: the rest waits in the pod.
    pause: () => socket?.pause(),
    resume: () => socket?.resume(),
  });
  const streams = { stdin, ...channelWritables(channel) };
  try {
    socket = await open(streams, (status) => {
      if (status.status === "Success" || status.reason === "NonZeroExitCode") return;
      channel.diagnostic(`${channel.diagnostics() ? "; " : ""}${status.reason ?? "Failure"}: ${status.message ?? ""}`);
    });
  } catch (error) {
    stdin.destroy();
    throw error;
  }
  const end = () => channel.end();
  if (socket.readyState === socket.CLOSED) end();
  socket.once("close", end);
  // A broken connection ends the conversation like a closed one: the runner's answer decides.
  socket.once("error", end);
  if (options.bootstrap !== false) stdin.write(bootstrapPreamble());
  // The egress forwarder's settings (egress-pod.ts), read before the runner's first request.
  if (options.afterBootstrap) stdin.write(options.afterBootstrap);
  return channel;
}
