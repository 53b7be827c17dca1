import type { Faults } from "./faults.js";
import type { PodRecord } from "./pod-record.js";

/** What an exec or attach asks of a pod's container. */
export interface StreamRequest {
  kind: "exec" | "attach";
  /** exec: the command, from the repeated `command` query parameters. */
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** Where a stream's output goes, chunk by chunk, as it is produced. */
export interface StreamSinks {
  stdout(data: Buffer): void;
  stderr(data: Buffer): void;
}

/** An open exec or attach. */
export interface PodStream {
  /** Bytes from the client's stdin channel. */
  write(data: Buffer): void;
  /** The client closed its stdin. */
  endInput(): void;
  /** The client went away: stdin is closed, and an attach ends (an exec runs on). */
  hangUp(): void;
  /** Settles after the last output reached the sinks: an exec's exit code, 0 for an attach. */
  finished: Promise<number>;
}

/**
 * What runs a pod's containers for the double: Docker containers
 * (`DockerPods`) or bubblewrap sandboxes on this host (`ProcessPods`).
 */
export interface PodRuntime {
  /** Takes the pod through its phases (scheduling, image, init containers, main container) to its end. */
  run(record: PodRecord, faults: Faults): Promise<void>;
  /** Stops everything of the pod at once (grace period 0) and frees what it held. */
  remove(record: PodRecord): Promise<void>;
  /** Opens an exec or attach on one of the pod's running containers. */
  openStream(record: PodRecord, container: string, request: StreamRequest, sinks: StreamSinks): Promise<PodStream>;
  /** Containers, processes or directories this runtime still holds, by name. */
  leftovers(): Promise<string[]>;
  /** Removes whatever is left once every pod is gone. */
  close(): Promise<void>;
}
