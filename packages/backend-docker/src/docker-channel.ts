import type { Duplex } from "node:stream";
import { channelWritables, RunnerChannel } from "@code-interpreter/core/runner";
import type Dockerode from "dockerode";

/**
 * A hijacked attach or exec stream (multiplexed: Tty false) as a runner's
 * channel: stdout carries the framed answer, stderr the runner's own
 * diagnostics. Hanging up destroys the stream; an attached container's runner
 * then sees the end of its input (StdinOnce) and exits.
 */
export function streamChannel(docker: Dockerode, stream: Duplex): RunnerChannel {
  const channel = new RunnerChannel({
    write: (data) => void stream.write(data),
    hangUp: () => stream.destroy(),
    // The demuxer reads on "data": a paused stream leaves the rest in the socket and the container.
    pause: () => void stream.pause(),
    resume: () => void stream.resume(),
  });
  const { stdout, stderr } = channelWritables(channel);
  docker.modem.demuxStream(stream, stdout, stderr);
  const end = () => channel.end();
  stream.once("end", end);
  stream.once("close", end);
  // A broken connection ends the conversation like a closed one: the runner's answer decides.
  stream.once("error", end);
  // Already over (its engine went away before anyone spoke): those events will not come again.
  if (stream.destroyed || stream.readableEnded) end();
  return channel;
}
