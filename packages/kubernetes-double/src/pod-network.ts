import { randomUUID } from "node:crypto";
import type Dockerode from "dockerode";
import { DOUBLE_APP_LABEL } from "./docker-pods.js";

/** A Docker network of the double's own for its pods: an internal bridge (no route beyond the host). */
export interface PodNetwork {
  /** The Docker network's name: pods' containers join it instead of having no network. */
  name: string;
  /** The host's address on it (the bridge's gateway): where a test's egress proxy listens for pods. */
  gateway: string;
  remove(): Promise<void>;
}

/**
 * Makes an `Internal: true` bridge network for the pods. Docker gives internal networks no
 * route out and no NAT, so pods reach only each other and the host, at the bridge's gateway
 * address; nothing enforces NetworkPolicy here (a CNI would), and pods can reach every port
 * the host listens on at that address.
 */
export async function createPodNetwork(docker: Dockerode, labels: Record<string, string>): Promise<PodNetwork> {
  const name = `k8s-double-net-${randomUUID().slice(0, 8)}`;
  const network = await docker.createNetwork({
    Name: name,
    Driver: "bridge",
    Internal: true,
    CheckDuplicate: true,
    Labels: { ...labels, [DOUBLE_APP_LABEL.key]: DOUBLE_APP_LABEL.value },
  });
  const remove = async () => {
    await network.remove().catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
  };
  const info = (await network.inspect()) as { IPAM?: { Config?: { Gateway?: string }[] } };
  const gateway = info.IPAM?.Config?.find((config) => config.Gateway && !config.Gateway.includes(":"))?.Gateway;
  if (!gateway) {
    await remove();
    throw new Error(`the Docker network ${name} has no IPv4 gateway address`);
  }
  return { name, gateway, remove };
}
