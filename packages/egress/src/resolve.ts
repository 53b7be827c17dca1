import { lookup } from "node:dns/promises";
import { parseIpAddress } from "./addresses.js";
import type { ResolvedAddress } from "./rules.js";

const RESOLVE_TIMEOUT_MS = 5_000;

/** The system's resolver: every address getaddrinfo gives (/etc/hosts, then DNS). */
export async function systemResolve(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, order: "verbatim" })).map((entry) => entry.address);
}

/** Resolves `host` with `resolve`, within a deadline; the addresses, parsed. */
export async function resolveWithin(resolve: (host: string) => Promise<string[]>, host: string): Promise<ResolvedAddress[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { code: "ETIMEOUT" })), RESOLVE_TIMEOUT_MS);
  });
  try {
    const found = await Promise.race([resolve(host), timeout]);
    return found.flatMap((text) => {
      const address = parseIpAddress(text);
      return address === undefined ? [] : [{ address, fromHosts: false }];
    });
  } finally {
    clearTimeout(timer);
  }
}
