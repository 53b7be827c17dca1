import { spawnSync } from "node:child_process";
import {
  ENVIRONMENT_LABEL,
  type EnvironmentManifest,
  PREPARE_ROOTFS_SCRIPT,
  readRootfsManifest,
  sandboxEnvironment,
} from "@code-interpreter/core/sandbox";
import { type CheckResult, fail, ok, warn } from "./check.js";

/** How to prepare the local sandbox environment, from a checkout when this CLI runs from one. */
export function prepareFix(checkout: string | undefined, rootfs?: string): string {
  const target = rootfs ? `LOCAL_ROOTFS=${rootfs} ` : "";
  return checkout
    ? `sudo ${target}bash ${checkout}/${PREPARE_ROOTFS_SCRIPT}   (scripts/start.sh runs it on its first start)`
    : `from a code-interpreter checkout: sudo ${target}bash ${PREPARE_ROOTFS_SCRIPT}`;
}

/** One line of what an environment holds: its hash, Python, and the declared modules' versions. */
export function describeManifest(manifest: EnvironmentManifest): string {
  const modules = Object.entries(manifest.modules).map(([name, version]) => `${name} ${version}`);
  return `${manifest.hash}: Debian ${manifest.suite}, Python ${manifest.python}, ${modules.join(", ")}`;
}

/**
 * The local backend's root filesystem: prepared (its manifest is there) and
 * built from this declaration (its hash is the declaration's).
 */
export async function checkRootfs(
  rootfs: string,
  checkout: string | undefined,
): Promise<{ result: CheckResult; manifest?: EnvironmentManifest }> {
  const declared = sandboxEnvironment();
  const manifest = await readRootfsManifest(rootfs).catch(() => undefined);
  if (!manifest) {
    return {
      result: fail("sandbox environment", `not prepared at ${rootfs} (LOCAL_ROOTFS)`, prepareFix(checkout, rootfsOverride(rootfs))),
    };
  }
  if (manifest.hash !== declared.hash) {
    return {
      manifest,
      result: fail(
        "sandbox environment",
        `${rootfs} is stale: built from environment ${manifest.hash}, the declaration is now ${declared.hash}`,
        prepareFix(checkout, rootfsOverride(rootfs)),
      ),
    };
  }
  return { manifest, result: ok("sandbox environment", `${describeManifest(manifest)} at ${rootfs}`) };
}

/** The rootfs path to name in the fix when it is not the default one (which the script finds itself). */
function rootfsOverride(rootfs: string): string | undefined {
  return rootfs.endsWith(`/${sandboxEnvironment().hash}`) ? undefined : rootfs;
}

/** The executor image's environment label against the declaration (read with the docker CLI). */
export function checkImageEnvironment(image: string, buildFix: string): CheckResult {
  const declared = sandboxEnvironment();
  const inspect = spawnSync("docker", ["image", "inspect", "--format", `{{ index .Config.Labels "${ENVIRONMENT_LABEL}" }}`, image], {
    encoding: "utf8",
    timeout: 20_000,
  });
  if (inspect.error || inspect.status !== 0) {
    return warn(
      "image environment",
      `could not read the label ${ENVIRONMENT_LABEL} of ${image} (${inspect.error?.message ?? inspect.stderr.trim()})`,
    );
  }
  const label = inspect.stdout.trim();
  if (label === declared.hash) return ok("image environment", `${image} has the sandbox environment ${declared.hash}`);
  const found =
    label && label !== "<no value>" ? `environment ${label}` : `no ${ENVIRONMENT_LABEL} label (built before the environment was declared)`;
  return fail("image environment", `${image} is stale: ${found}, the declaration is now ${declared.hash}`, buildFix);
}
