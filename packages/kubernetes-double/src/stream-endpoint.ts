import type { WebSocket } from "ws";
import { type ApiStatus, exitStatus } from "./api-status.js";
import type { PodStream, StreamRequest, StreamSinks } from "./pod-runtime.js";

/** The channels of the Kubernetes remote-command protocol. */
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
/** v5 only: `[255, channel]` closes that channel (stdin) without closing the socket. */
const CLOSE = 255;

/**
 * Serves one exec or attach over an accepted WebSocket the way the kubelet's
 * streaming server does: stdin from channel 0, stdout and stderr to channels
 * 1 and 2 as they arrive, then the exit status as a `Status` on channel 3,
 * then close. `open` starts the stream on whatever runs the pod.
 */
export async function serveStream(ws: WebSocket, request: StreamRequest, open: (sinks: StreamSinks) => Promise<PodStream>): Promise<void> {
  const send = (channel: number, data: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
  };
  // The client may send stdin the moment the socket opens, before the runtime has answered: queue it.
  const early: Buffer[] = [];
  let deliver = (data: Buffer) => {
    early.push(data);
  };
  ws.on("message", (data: Buffer) => deliver(data));
  let stream: PodStream;
  try {
    stream = await open({ stdout: (data) => send(STDOUT, data), stderr: (data) => send(STDERR, data) });
  } catch (error) {
    finish(ws, send, internal(`could not ${request.kind}: ${(error as Error).message}`));
    return;
  }
  deliver = (data: Buffer) => {
    const channel = data[0];
    if (channel === STDIN) stream.write(data.subarray(1));
    else if (channel === CLOSE && data[1] === STDIN) stream.endInput();
  };
  for (const data of early.splice(0)) deliver(data);
  // A client that goes away takes its stdin with it, as with the kubelet.
  ws.once("close", () => stream.hangUp());
  finish(ws, send, exitStatus(await stream.finished));
}

function finish(ws: WebSocket, send: (channel: number, data: Buffer) => void, status: ApiStatus): void {
  send(STATUS, Buffer.from(JSON.stringify(status)));
  if (ws.readyState === ws.OPEN) ws.close(1000);
}

function internal(message: string): ApiStatus {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason: "InternalError", code: 500 };
}
