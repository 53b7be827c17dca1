import type { EgressGateway } from "@code-interpreter/core";
import { createEgressGateway, type EgressOptions, EgressSettingsError, egressOptionsFromEnv } from "@code-interpreter/egress";
import { type Config, ConfigError, EGRESS_SETTINGS } from "./config.js";
import type { EgressOffer } from "./context.js";

/** The server's egress proxy and what it offers requests. */
export interface ServerEgress {
  gateway: EgressGateway;
  offer: EgressOffer;
}

/**
 * The egress proxy's options from the configuration's EGRESS_* variables
 * (read by @code-interpreter/egress, which names every bad one), or
 * undefined when the operator offers no egress (EGRESS_ALLOW_OUT unset).
 * A bad setting is a ConfigError naming the variable.
 */
export function egressOptions(config: Config): EgressOptions | undefined {
  if (!config.EGRESS_ALLOW_OUT) return undefined;
  const env = Object.fromEntries(EGRESS_SETTINGS.map((key) => [key, rawSetting(config, key)]));
  try {
    return egressOptionsFromEnv(env);
  } catch (error) {
    if (error instanceof EgressSettingsError) throw new ConfigError(error.problems);
    throw error;
  }
}

/**
 * Starts the egress proxy when the operator set EGRESS_ALLOW_OUT (undefined
 * otherwise): the server's own address is always denied to sandboxes, and
 * every decision is counted through `onAttempt` (metrics by tenant).
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
