import {
  createEgressGateway,
  type EgressOptions,
  type EgressProxy,
  EgressSettingsError,
  egressOptionsFromEnv,
} from "@code-interpreter/egress";
import { type Config, ConfigError, EGRESS_SETTINGS } from "./config.js";
import type { EgressOffer } from "./context.js";

/** The server's egress proxy and what it offers requests. */
export interface ServerEgress {
  /** Makes its CA and directory on the first sandbox with `network`, not before. */
  gateway: EgressProxy;
  offer: EgressOffer;
}

/**
 * The egress proxy's options from the configuration's EGRESS_* variables
 * (read by @code-interpreter/egress, which names every bad one), or
 * undefined when the operator offers no egress (EGRESS_ALLOW=none). Unset,
 * EGRESS_ALLOW is any public name or address. A bad setting is a
 * ConfigError naming the variable, even with EGRESS_ALLOW=none.
 */
export function egressOptions(config: Config): EgressOptions | undefined {
  const env = Object.fromEntries(EGRESS_SETTINGS.map((key) => [key, rawSetting(config, key)]));
  // Secrets may name the variable holding their value (value_env): the server's own environment.
  let options: EgressOptions;
  try {
    options = egressOptionsFromEnv({ ...process.env, ...env });
  } catch (error) {
    if (error instanceof EgressSettingsError) throw new ConfigError(error.problems);
    throw error;
  }
  return options.allowOut?.length === 0 ? undefined : options;
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

/** The configuration's value of an EGRESS_* variable as text again, for the proxy's own parser. */
function rawSetting(config: Config, key: string): string | undefined {
  const value = (config as unknown as Record<string, unknown>)[key];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(",") : String(value);
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
