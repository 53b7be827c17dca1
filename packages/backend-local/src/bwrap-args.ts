import { execFileSync } from "node:child_process";
import { dirname } from "node:path";
import { EGRESS_MOUNT_PATH } from "@code-interpreter/core";
import { WORKSPACE_DIR } from "@code-interpreter/core/engine";
import { bwrapRootArgs, groupFile, passwdFile } from "./bwrap-root.js";

/** What one sandbox gets. */
export interface BwrapOptions {
  /** Sandbox name, also its hostname: `code-exec-<uuid>` or `code-session-<uuid>`. */
  name: string;
  uid: number;
  /** Host directory to bind at /workspace; a fresh size-limited tmpfs when absent. */
  workspaceDir?: string;
  tmpfsBytes: number;
  /** Fds (in the spawned process) carrying /etc/passwd and /etc/group. */
  passwdFd: number;
  groupFd: number;
  /** The runner's environment, on top of PATH. */
  env?: Record<string, string>;
  /** Root filesystem bound read-only as `/`; without it, the host's /usr and a few /etc files. */
  rootfs?: string;
  /** This bubblewrap has `--disable-userns` (0.8 and later). */
  disableUserns?: boolean;
  /**
   * The command is the runner and becomes pid 1 (`--as-pid-1`): code cannot
   * signal it (kill -1 spares pid 1, which ignores what it has no handler for).
   * Not for kernels, which would then collect their cells' orphans as zombies.
   */
  asPid1?: boolean;
  /** Fd (in the spawned process) carrying the seccomp program (see seccomp-filter.ts). */
  seccompFd?: number;
  /**
   * Host directory with the egress proxy's socket and CA bundle (issue 22), bound read-only at
   * EGRESS_MOUNT_PATH on a small read-only tmpfs /run; the network stays unshared (only loopback).
   */
  egressDir?: string;
  /**
   * Host directory for the fork server's socket (see fork-server.ts): bound read-write at FORK_SERVER_SOCKET_DIR,
   * under the sandbox's /tmp, which each execution the fork server starts covers with its own.
   */
  forkServerDir?: string;
}

/** Where the fork server's socket directory is in its sandbox (the runner's forkserver.SOCKET_DIR). */
export const FORK_SERVER_SOCKET_DIR = "/tmp/.fork-server";

/**
 * bubblewrap arguments: every namespace unshared (no network, own pids, ipc,
 * uts, cgroup, user; no nested user namespaces where bubblewrap can refuse
 * them), the prepared root filesystem (or the host, only in part) read-only, size-limited tmpfs /tmp and
 * /dev/shm (and /workspace for one-shot runs), no capabilities, killed with
 * its parent.
 */
export function bwrapArgs(options: BwrapOptions): string[] {
  const args = [
    "--unshare-all",
    // --disable-userns needs an explicit --unshare-user (not the "try" of --unshare-all).
    ...(options.disableUserns ? ["--unshare-user", "--disable-userns"] : []),
    ...(options.asPid1 ? ["--as-pid-1"] : []),
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--uid",
    String(options.uid),
    "--gid",
    String(options.uid),
    "--hostname",
    options.name,
  ];
  args.push(...bwrapRootArgs(options.rootfs));
  args.push("--ro-bind-data", String(options.passwdFd), "/etc/passwd");
  args.push("--ro-bind-data", String(options.groupFd), "/etc/group");
  args.push("--proc", "/proc", "--dev", "/dev");
  // --dev's /dev/shm would be an unsized tmpfs: host memory the code could fill.
  args.push("--size", String(options.tmpfsBytes), "--tmpfs", "/dev/shm");
  args.push("--size", String(options.tmpfsBytes), "--tmpfs", "/tmp");
  if (options.forkServerDir) args.push("--bind", options.forkServerDir, FORK_SERVER_SOCKET_DIR);
  if (options.workspaceDir) args.push("--bind", options.workspaceDir, WORKSPACE_DIR);
  else args.push("--size", String(options.tmpfsBytes), "--tmpfs", WORKSPACE_DIR);
  if (options.egressDir) {
    // The read-only root has no mount point for it: a tmpfs /run holds one, read-only once it is bound.
    args.push("--perms", "0755", "--size", String(EGRESS_RUN_BYTES), "--tmpfs", "/run");
    args.push("--perms", "0755", "--dir", dirname(EGRESS_MOUNT_PATH), "--ro-bind", options.egressDir, EGRESS_MOUNT_PATH);
    args.push("--remount-ro", "/run");
  }
  // Everything but /workspace and /tmp read-only, including the new root itself.
  args.push("--remount-ro", "/");
  if (options.seccompFd !== undefined) args.push("--seccomp", String(options.seccompFd));
  args.push("--chdir", WORKSPACE_DIR, "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin");
  for (const [key, value] of Object.entries(options.env ?? {})) args.push("--setenv", key, value);
  return args;
}

/** Size of the tmpfs /run that holds the egress directory's mount point (nothing is written to it). */
const EGRESS_RUN_BYTES = 65536;

const accepted = new Map<string, boolean>();

/**
 * Whether this bubblewrap, run as `uid`, starts a sandbox with these options:
 * `--disable-userns` (0.8+, and a user namespace) and `--as-pid-1` (0.7+) are
 * recent, and a setuid bubblewrap without user namespaces refuses the first.
 * Tried once per binary, uid and options.
 */
export function bwrapAccepts(bwrapPath: string, options: readonly string[], uid?: number): boolean {
  const key = `${bwrapPath}\0${uid}\0${options.join(" ")}`;
  let result = accepted.get(key);
  if (result === undefined) {
    try {
      execFileSync(bwrapPath, ["--unshare-all", ...options, "--ro-bind", "/", "/", "--", "true"], {
        stdio: "ignore",
        uid,
        gid: uid,
        timeout: 10_000,
      });
      result = true;
    } catch {
      result = false;
    }
    accepted.set(key, result);
  }
  return result;
}

export { groupFile, passwdFile };
