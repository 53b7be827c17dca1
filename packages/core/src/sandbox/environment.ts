import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { packageFile } from "../package-file.js";

/**
 * The sandbox environment, as declared once in this package's
 * `environment/environment.conf`: the Debian suite and packages every
 * backend's sandboxes are built from, the environment variables code sees,
 * and the Python modules whose versions the build records.
 */
export interface SandboxEnvironment {
  /** Bumped when the build steps change without the declaration changing. */
  revision: number;
  /** Debian release (DEBIAN_SUITE overrides the declared one). */
  suite: string;
  packages: string[];
  env: Record<string, string>;
  modules: string[];
  /** The environment's version: sha256 of the declaration and the suite, 16 hex digits (as images/environment/environment.sh computes it). */
  hash: string;
}

/** What a prepared root filesystem (and the image made from it) holds, recorded when it was built. */
export interface EnvironmentManifest {
  hash: string;
  suite: string;
  revision: number;
  /** Full Python version, e.g. `3.11.2`. */
  python: string;
  /** Declared module → its `__version__`. */
  modules: Record<string, string | null>;
  /** Declared Debian package → its version. */
  packages: Record<string, string>;
}

/** Where prepared root filesystems live, one directory per environment hash. */
export const ROOTFS_CACHE_DIR = "/var/cache/code-interpreter/rootfs";
/** Where a root filesystem (and the executor image) records what it holds. */
export const ENVIRONMENT_MANIFEST_PATH = "/etc/code-interpreter/environment.json";
/** The executor image's label carrying the environment hash it was built from. */
export const ENVIRONMENT_LABEL = "code-interpreter.environment";
/** The script that prepares the root filesystem, relative to a code-interpreter checkout. */
export const PREPARE_ROOTFS_SCRIPT = "images/environment/prepare-rootfs.sh";

let declaration: string | undefined;

/** The declaration's text (shipped in this package's `environment/` folder). */
export function environmentDeclaration(): string {
  declaration ??= readFileSync(packageFile("environment/environment.conf"), "utf8");
  return declaration;
}

/** The declared environment; `env` supplies DEBIAN_SUITE. */
export function sandboxEnvironment(env: NodeJS.ProcessEnv = process.env): SandboxEnvironment {
  return parseEnvironment(environmentDeclaration(), env.DEBIAN_SUITE || undefined);
}

/** Parses a declaration (see environment.conf for its lines). */
export function parseEnvironment(text: string, suiteOverride?: string): SandboxEnvironment {
  const values = (key: string) =>
    text
      .split("\n")
      .filter((line) => line.startsWith(`${key} `))
      .map((line) => line.slice(key.length + 1));
  const suite = suiteOverride ?? values("suite")[0] ?? "bookworm";
  const env: Record<string, string> = {};
  for (const entry of values("env")) {
    const at = entry.indexOf("=");
    env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return {
    revision: Number(values("revision")[0] ?? 0),
    suite,
    // Both kinds of Debian package: debootstrap's (`package`) and those apt-get installs after it (`apt-package`).
    packages: [...values("package"), ...values("apt-package")],
    env,
    modules: values("module"),
    hash: createHash("sha256").update(text).update(`suite=${suite}\n`).digest("hex").slice(0, 16),
  };
}

/** The local backend's root filesystem: LOCAL_ROOTFS, else the cache directory named by the environment hash. */
export function defaultRootfs(env: NodeJS.ProcessEnv = process.env): string {
  return env.LOCAL_ROOTFS || join(ROOTFS_CACHE_DIR, sandboxEnvironment(env).hash);
}

/** The manifest of a prepared root filesystem, or undefined when there is none (not prepared, or interrupted). */
export async function readRootfsManifest(rootfs: string): Promise<EnvironmentManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(rootfs, ENVIRONMENT_MANIFEST_PATH), "utf8")) as EnvironmentManifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || error instanceof SyntaxError) return undefined;
    throw error;
  }
}
