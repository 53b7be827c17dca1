import { EGRESS_CA_BUNDLE_NAME, EGRESS_MOUNT_PATH, EGRESS_SANDBOX_PORT, type EgressTcpEndpoint } from "@code-interpreter/core";
import type { SandboxEgress } from "@code-interpreter/core/engine";
import { InvalidRequestError } from "@code-interpreter/core/errors";
import { withEgressForwarder } from "@code-interpreter/core/runner";

/** A pod's way out (issue 22): the proxy's TCP listener, this sandbox's token, and the proxy's CA. */
export interface PodEgress {
  tcp: EgressTcpEndpoint;
  caCertificate: string;
}

/**
 * The way out a pod can use: a pod cannot be given a host socket, so only
 * the gateway's TCP listener (EGRESS_LISTEN) will do; without one the engine
 * is never offered egress (capabilities), so this refuses what slipped past.
 */
export function podEgress(egress: SandboxEgress | undefined): PodEgress | undefined {
  if (!egress) return undefined;
  if (!egress.tcp || !egress.caCertificate) {
    throw new InvalidRequestError({
      message: "network egress on the kubernetes backend needs the egress proxy's TCP listener (EGRESS_LISTEN); leave `network` out",
    });
  }
  return { tcp: egress.tcp, caCertificate: egress.caCertificate };
}

/** The runner's command line with the forwarder started first, relaying 127.0.0.1:3128 to the proxy's TCP listener. */
export function egressRunnerArgv(argv: readonly string[], egress: PodEgress): string[] {
  const host = egress.tcp.host.includes(":") ? `[${egress.tcp.host}]` : egress.tcp.host;
  return withEgressForwarder(argv, `tcp:${host}:${egress.tcp.port}`, EGRESS_SANDBOX_PORT);
}

/**
 * What the forwarder reads on stdin right after the runner's source (one JSON line): the token, never in
 * the pod's spec or the code's environment, and the CA the bundle at SSL_CERT_FILE is written with.
 */
export function egressSettingsLine(egress: PodEgress): Buffer {
  const line = { token: egress.tcp.token, ca: egress.caCertificate, bundle: `${EGRESS_MOUNT_PATH}/${EGRESS_CA_BUNDLE_NAME}` };
  return Buffer.from(`${JSON.stringify(line)}\n`);
}
