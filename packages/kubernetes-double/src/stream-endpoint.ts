import type { Duplex } from "node:stream";
import { Writable } from "node:stream";
import type Dockerode from "dockerode";
import type { WebSocket } from "ws";
import { type ApiStatus, exitStatus } from "./api-status.js";

/** The channels of the Kubernetes remote-command protocol. */
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
/** v5 only: `[255, channel]` closes that channel (stdin) without closing the socket. */
const CLOSE = 255;

export interface StreamRequest {
  kind: "exec" | "attach";
  docker: Dockerode;
  containerId: string;
  /** exec: the command, from the repeated `command` query parameters. */
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/**
 * Serves one exec or attach over an accepted WebSocket the way the kubelet's
 * streaming server does: stdin from channel 0, stdout and stderr to channels
 * 1 and 2 as they arrive, then the exit status as a `Status` on channel 3,
 * then close.
 */
export async function serveStream(ws: WebSocket, request: StreamRequest): Promise<void> {
  const send = (channel: number, data: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
  };
  // The client may send stdin the moment the socket opens, before Docker has answered: queue it.
  const early: Buffer[] = [];
  let deliver = (data: Buffer) => {
    early.push(data);
  };
  ws.on("message", (data: Buffer) => deliver(data));
  const container = request.docker.getContainer(request.containerId);
  let stream: Duplex;
  let exec: Dockerode.Exec | undefined;
  try {
    if (request.kind === "exec") {
      exec = await container.exec({
        Cmd: request.command,
        AttachStdin: request.stdin,
        AttachStdout: request.stdout,
        AttachStderr: request.stderr,
        Tty: false,
      });
      stream = (await exec.start({ hijack: true, stdin: request.stdin, Tty: false })) as Duplex;
    } else {
      stream = (await container.attach({
        stream: true,
        stdin: request.stdin,
        stdout: request.stdout,
        stderr: request.stderr,
        hijack: true,
      })) as Duplex;
    }
  } catch (error) {
    finish(ws, send, internal(`could not ${request.kind}: ${(error as Error).message}`));
    return;
  }
  const ended = new Promise<void>((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
  request.docker.modem.demuxStream(stream, channelWriter(send, STDOUT), channelWriter(send, STDERR));
  deliver = (data: Buffer) => {
    const channel = data[0];
    if (channel === STDIN) stream.write(data.subarray(1));
    else if (channel === CLOSE && data[1] === STDIN) stream.end();
  };
  for (const data of early.splice(0)) deliver(data);
  // A client that goes away takes its stdin with it, as with the kubelet.
  ws.once("close", () => stream.destroy());
  await ended;
  if (exec) finish(ws, send, exitStatus(await exitCodeOf(exec)));
  else finish(ws, send, exitStatus(0));
}

function channelWriter(send: (channel: number, data: Buffer) => void, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      send(channel, chunk);
      callback();
    },
  });
}

function finish(ws: WebSocket, send: (channel: number, data: Buffer) => void, status: ApiStatus): void {
  send(STATUS, Buffer.from(JSON.stringify(status)));
  if (ws.readyState === ws.OPEN) ws.close(1000);
}

function internal(message: string): ApiStatus {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason: "InternalError", code: 500 };
}

/** The exec's exit code; Docker may report the stream's end a moment before the exec's. */
async function exitCodeOf(exec: Dockerode.Exec): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const info = await exec.inspect().catch(() => undefined);
    if (!info) return 137;
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return 137;
}
