import { isIP } from "node:net";
import { type Config, ConfigError } from "../config.js";
import type { Logger } from "../observability/logger.js";
import type { KeyRing } from "./key-ring.js";

/** Whether HOST only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host === "::1" || host === "[::1]") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/**
 * The safe default: without API keys anyone who reaches the server can run
 * code, so it only listens on loopback unless ALLOW_UNAUTHENTICATED says
 * otherwise. Refused before anything is started.
 */
export function assertSafeExposure(config: Config, keys: KeyRing, logger: Logger): void {
  if (keys.size > 0) {
    logger.info({ keys: keys.size }, "API keys configured: every /v1 and /mcp request needs Authorization: Bearer <key>");
    return;
  }
  if (isLoopbackHost(config.HOST)) {
    logger.info("no API keys configured (API_KEYS, ADMIN_API_KEYS, API_KEYS_FILE): one tenant, listening on loopback only");
    return;
  }
  if (!config.ALLOW_UNAUTHENTICATED) {
    throw new ConfigError([
      `HOST=${JSON.stringify(config.HOST)}: a server without API keys only listens on loopback. ` +
        "Configure API_KEYS (or API_KEYS_FILE), or set ALLOW_UNAUTHENTICATED=true to let anyone who reaches it run code",
    ]);
  }
  logger.warn({ host: config.HOST }, "ALLOW_UNAUTHENTICATED=true: no API keys, and anyone who reaches this address can run code");
}
