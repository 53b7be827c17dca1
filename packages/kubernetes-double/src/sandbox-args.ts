import { bwrapRootArgs, groupFile, passwdFile } from "@code-interpreter/backend-local/bwrap";

/** One bubblewrap sandbox standing in for a container of a pod. */
export interface SandboxSpec {
  /** Hostname inside: the pod's name. */
  hostname: string;
  /** Host directories bound read-write, by path inside (the pod's emptyDirs). */
  binds: { source: string; target: string }[];
  /** Host files bound read-only at /etc/passwd and /etc/group. */
  passwdFile: string;
  groupFile: string;
  workingDir?: string;
  env: Record<string, string>;
  /** RLIMIT_AS in bytes (the container's memory limit), if any. */
  addressSpaceBytes?: number;
  /** RLIMIT_NPROC (the pod's pids limit). */
  processes: number;
  /** The program and its arguments. */
  argv: string[];
  /** A root filesystem bound read-only as `/` (the image's contents); without it, the host's /usr and a few /etc files. */
  rootfs?: string;
  /** An fd of the spawned bwrap carrying a seccomp BPF program (`--seccomp`). */
  seccompFd?: number;
}

/** The sandbox's Python (the root filesystem's, else the host's): it applies the limits and then becomes the program. */
export const HOST_PYTHON = "/usr/bin/python3";

/** Sets the limits a cgroup would have imposed, then execs the program (looked up on PATH). */
const LIMITS = `import os, resource, sys
address_space, processes = int(sys.argv[1]), int(sys.argv[2])
if address_space > 0:
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
os.execvp(sys.argv[3], sys.argv[3:])`;

/**
 * bubblewrap arguments for a container of a pod: every namespace unshared
 * (no network, own pids), no capabilities, killed with its parent, the
 * root filesystem (or the host's /usr, the usrmerge links and a few /etc
 * files: backend-local's `bwrapRootArgs`) read-only, the emptyDirs bound read-write.
 */
export function sandboxArgs(spec: SandboxSpec): string[] {
  // --as-pid-1: the program is its sandbox's pid 1, as a container's command is, so the kernel
  // shields it from signals its own descendants send (kill -1 included).
  const args = ["--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", spec.hostname];
  // The same root view as backend-local's sandboxes (its /etc files included), from one list.
  args.push(...bwrapRootArgs(spec.rootfs));
  args.push("--ro-bind", spec.passwdFile, "/etc/passwd", "--ro-bind", spec.groupFile, "/etc/group");
  args.push("--proc", "/proc", "--dev", "/dev");
  for (const bind of spec.binds) args.push("--bind", bind.source, bind.target);
  args.push("--remount-ro", "/");
  if (spec.workingDir) args.push("--chdir", spec.workingDir);
  args.push("--clearenv");
  for (const [key, value] of Object.entries(spec.env)) args.push("--setenv", key, value);
  if (spec.seccompFd !== undefined) args.push("--seccomp", String(spec.seccompFd));
  const limits = [String(Math.floor(spec.addressSpaceBytes ?? 0)), String(spec.processes)];
  return [...args, "--", HOST_PYTHON, "-I", "-S", "-c", LIMITS, ...limits, ...spec.argv];
}

export { groupFile, passwdFile };
