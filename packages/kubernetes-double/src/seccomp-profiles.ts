import { readFile } from "node:fs/promises";
import { join, normalize } from "node:path";
import type { OciSeccompProfile } from "@code-interpreter/core/policy";
import type { V1Container, V1Pod, V1SeccompProfile } from "@kubernetes/client-node";

/** What a kubelet makes of a container's `seccompProfile`. */
export type SeccompChoice =
  | { kind: "runtime-default" }
  | { kind: "unconfined" }
  | { kind: "localhost"; profile: OciSeccompProfile }
  | { kind: "error"; message: string };

/**
 * The container's seccomp profile as a kubelet resolves it: the container's
 * own, else the pod's; none or `Unconfined` runs unconfined (a kubelet
 * without `--seccomp-default`); `Localhost` reads `localhostProfile` under
 * `root`, as a kubelet reads /var/lib/kubelet/seccomp. A missing or
 * unreadable profile is an error, which a kubelet reports as
 * CreateContainerError.
 */
export async function containerSeccomp(pod: V1Pod, container: V1Container, root: string | undefined): Promise<SeccompChoice> {
  const profile: V1SeccompProfile | undefined = container.securityContext?.seccompProfile ?? pod.spec?.securityContext?.seccompProfile;
  if (profile?.type === "RuntimeDefault") return { kind: "runtime-default" };
  if (profile?.type !== "Localhost") return { kind: "unconfined" };
  const relative = normalize(profile.localhostProfile ?? "");
  if (!root || relative.startsWith("..") || relative.startsWith("/") || relative === ".") {
    return {
      kind: "error",
      message: `cannot load seccomp profile ${JSON.stringify(profile.localhostProfile)}: no such profile on this node`,
    };
  }
  const path = join(root, relative);
  try {
    return { kind: "localhost", profile: JSON.parse(await readFile(path, "utf8")) as OciSeccompProfile };
  } catch (error) {
    return { kind: "error", message: `cannot load seccomp profile ${path}: ${(error as Error).message}` };
  }
}
