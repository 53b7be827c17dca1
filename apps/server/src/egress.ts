import { createEgressGateway, type EgressOptions, type EgressProxy, EgressSettingsError } from "@code-interpreter/egress";
import { type Config, ConfigError } from "./config.js";
import type { EgressOffer } from "./context.js";

/** The server's egress proxy and what it offers requests. */
export interface ServerEgress {
  /** Makes its CA and directory on the first sandbox with `network`, not before. */
  gateway: EgressProxy;
  offer: EgressOffer;
}

/**
 * The egress proxy's options (loadConfig parsed the EGRESS_* variables with
 * @code-interpreter/egress's parser, naming every bad one), or undefined when
 * the operator offers no egress (EGRESS_ALLOW=none). Unset, EGRESS_ALLOW is
 * any public name or address.
 */
export function egressOptions(config: Config): EgressOptions | undefined {
  return config.egress.allowOut?.length === 0 ? undefined : config.egress;
}

/**
 * Starts the egress proxy unless the operator set EGRESS_ALLOW=none
 * (undefined then). It costs nothing until a request asks for `network`: the
 * proxy makes its CA and directory on the first. The server's own address is
 * always denied to sandboxes, and every decision is counted through
 * `onAttempt` (metrics by tenant).
 */
export async function openEgress(
  config: Config,
  onAttempt: (tenant: string | undefined, allowed: boolean) => void,
): Promise<ServerEgress | undefined> {
  const options = egressOptions(config);
  if (!options) return undefined;
  const gateway = await createEgressGateway({
    ...options,
    serverAddresses: serverAddresses(config),
    onAttempt: (event) => onAttempt(event.tenant, event.attempt.allowed),
  }).catch((error: Error) => {
    throw error instanceof EgressSettingsError ? new ConfigError(error.problems) : error;
  });
  const secrets = Object.entries(options.secrets ?? {}).map(([name, secret]) =>
    secret.tenants ? { name, tenants: secret.tenants } : { name },
  );
  return { gateway, offer: { secrets } };
}

/**
 * HOST:PORT, always denied to sandboxes (0.0.0.0 stands for every address of
 * this host). A host name (not an address) or port 0 (chosen at listen) are
 * left to the proxy's own rules: loopback is always denied.
 */
function serverAddresses(config: Config): string[] {
  if (config.PORT === 0) return [];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(config.HOST)) return [`${config.HOST}:${config.PORT}`];
  if (config.HOST.includes(":")) return [`[${config.HOST}]:${config.PORT}`];
  return [];
}
