import type { V1Pod } from "@kubernetes/client-node";

/** A pod as the double keeps it: the API object plus what runs it. */
export interface PodRecord {
  pod: V1Pod;
  /** Docker container id of each started container, by container name. */
  containers: Map<string, string>;
  /** Set once the pod is deleted: work still under way stops and cleans up. */
  deleted: boolean;
  /** A container creation under way, which a delete waits for so nothing is left behind. */
  creating?: Promise<unknown>;
  /** The deletion under way: the pod stays listed, with a deletionTimestamp, until its containers are gone. */
  removing?: Promise<void>;
  /** The container runtime handler of the pod's RuntimeClass (`runsc` for gVisor); undefined for the node's default (runc). */
  handler?: string;
  deadlineTimer?: NodeJS.Timeout;
  deadlineExceeded?: boolean;
}

/** Now as the API server writes times: RFC 3339 without fractions. */
export function timestamp(date = new Date()): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
