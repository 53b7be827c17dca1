import type { Duplex } from "node:stream";
import { Writable } from "node:stream";
import { RunnerChannel } from "@code-interpreter/core";
import type Dockerode from "dockerode";

/**
 * A hijacked attach or exec stream (multiplexed: Tty false) as a runner's
 * channel: stdout carries the framed answer, stderr the runner's own
 * diagnostics. Hanging up destroys the stream; an attached container's runner
 * then sees the end of its input (StdinOnce) and exits.
 */
export function streamChannel(docker: Dockerode, stream: Duplex): RunnerChannel {
  const channel = new RunnerChannel({ write: (data) => void stream.write(data), hangUp: () => stream.destroy() });
  docker.modem.demuxStream(
    stream,
    sink((chunk) => channel.data(chunk)),
    sink((chunk) => channel.diagnostic(chunk)),
  );
  const end = () => channel.end();
  stream.once("end", end);
  stream.once("close", end);
  // A broken connection ends the conversation like a closed one: the runner's answer decides.
  stream.once("error", end);
  // Already over (its engine went away before anyone spoke): those events will not come again.
  if (stream.destroyed || stream.readableEnded) end();
  return channel;
}

function sink(take: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      take(chunk);
      callback();
    },
  });
}
