import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError } from "../config.js";

/** Who a request comes from: a tenant, and whether its key may see every tenant's sessions and files. */
export interface Principal {
  tenant: string;
  admin: boolean;
}

/** Tenant names end up in labels and annotations, so they keep to label-safe characters. */
const TENANT_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const SHA256 = /^sha256:([0-9a-f]{64})$/i;

const KeyFileSchema = z.object({
  keys: z.array(
    z.object({
      tenant: z.string().regex(TENANT_NAME, "tenant must be 1-63 letters, digits, '.', '_' or '-'"),
      sha256: z.string().regex(/^[0-9a-f]{64}$/i, "sha256 must be the 64 hex digits of the key's SHA-256"),
      admin: z.boolean().default(false),
    }),
  ),
});

/** The hex SHA-256 of a key: the only form in which keys are kept. */
export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export interface KeyRingSources {
  /** `tenant=key,…`; a key may be given as `sha256:<hex>`. @default API_KEYS */
  API_KEYS?: string | undefined;
  /** The same for keys that see every tenant. @default ADMIN_API_KEYS */
  ADMIN_API_KEYS?: string | undefined;
  /** JSON `{"keys":[{"tenant","sha256","admin"?}]}`: hashes only. @default API_KEYS_FILE */
  API_KEYS_FILE?: string | undefined;
}

/**
 * The configured API keys, held as SHA-256 hashes: a key given in plain text
 * is hashed as it is read and not kept. Empty when no keys are configured.
 */
export class KeyRing {
  private readonly byHash = new Map<string, Principal>();

  /** Reads the keys from the variables (and the file they name); throws ConfigError naming what is wrong. */
  static load(sources: KeyRingSources): KeyRing {
    const ring = new KeyRing();
    ring.addList("API_KEYS", sources.API_KEYS, false);
    ring.addList("ADMIN_API_KEYS", sources.ADMIN_API_KEYS, true);
    if (sources.API_KEYS_FILE) ring.addFile(sources.API_KEYS_FILE);
    return ring;
  }

  /** How many keys there are; with none the server runs as one tenant and needs no key. */
  get size(): number {
    return this.byHash.size;
  }

  /** The principal a presented key belongs to, or undefined for an unknown key. */
  authenticate(key: string): Principal | undefined {
    return this.byHash.get(hashKey(key));
  }

  private add(where: string, tenant: string, hash: string, admin: boolean): void {
    if (!TENANT_NAME.test(tenant))
      throw configError(`${where}: tenant ${JSON.stringify(tenant)} must be 1-63 letters, digits, '.', '_' or '-'`);
    const key = hash.toLowerCase();
    const existing = this.byHash.get(key);
    if (existing && (existing.tenant !== tenant || existing.admin !== admin)) {
      throw configError(`${where}: the same key is given to ${existing.tenant} and ${tenant}`);
    }
    this.byHash.set(key, { tenant, admin });
  }

  private addList(variable: string, value: string | undefined, admin: boolean): void {
    const entries = (value ?? "")
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean);
    for (const [index, entry] of entries.entries()) {
      const separator = entry.indexOf("=");
      const tenant = entry.slice(0, Math.max(separator, 0));
      const secret = entry.slice(separator + 1);
      if (separator <= 0 || !secret) throw configError(`${variable}: entry ${index + 1} is not tenant=key`);
      if (secret.length < 16 && !SHA256.test(secret)) throw configError(`${variable}: the key of ${tenant} is shorter than 16 characters`);
      this.add(variable, tenant, SHA256.exec(secret)?.[1] ?? hashKey(secret), admin);
    }
  }

  private addFile(path: string): void {
    let parsed: z.infer<typeof KeyFileSchema>;
    try {
      parsed = KeyFileSchema.parse(JSON.parse(readFileSync(path, "utf8")));
    } catch (error) {
      const reason =
        error instanceof z.ZodError
          ? error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")
          : (error as Error).message;
      throw configError(`API_KEYS_FILE=${path}: ${reason}`);
    }
    for (const entry of parsed.keys) this.add(`API_KEYS_FILE=${path}`, entry.tenant, entry.sha256, entry.admin);
  }
}

const configError = (message: string) => new ConfigError([message]);
