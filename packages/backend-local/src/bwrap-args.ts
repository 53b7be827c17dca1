import { execFileSync } from "node:child_process";
import { existsSync, lstatSync } from "node:fs";
import { WORKSPACE_DIR } from "@code-interpreter/core/engine";

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
}

// Read-only views of the host: the system's programs and libraries, and the
// few files under /etc that Python, bash and the data stack read.
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
const ETC_FILES = [
  "/etc/alternatives",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/localtime",
  "/etc/python3",
  "/etc/python3.11",
  "/etc/python3.12",
  "/etc/python3.13",
  "/etc/matplotlibrc",
  "/etc/fonts",
  "/etc/ssl",
  "/etc/mime.types",
];

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
  if (options.rootfs) args.push("--ro-bind", options.rootfs, "/");
  else {
    for (const dir of SYSTEM_DIRS) {
      if (!existsSync(dir)) continue;
      const stats = lstatSync(dir);
      // usrmerge: /bin -> usr/bin and friends stay symlinks inside too.
      if (stats.isSymbolicLink()) args.push("--symlink", `usr${dir}`, dir);
      else args.push("--ro-bind", dir, dir);
    }
    for (const path of ETC_FILES) args.push("--ro-bind-try", path, path);
  }
  args.push("--ro-bind-data", String(options.passwdFd), "/etc/passwd");
  args.push("--ro-bind-data", String(options.groupFd), "/etc/group");
  args.push("--proc", "/proc", "--dev", "/dev");
  // --dev's /dev/shm would be an unsized tmpfs: host memory the code could fill.
  args.push("--size", String(options.tmpfsBytes), "--tmpfs", "/dev/shm");
  args.push("--size", String(options.tmpfsBytes), "--tmpfs", "/tmp");
  if (options.workspaceDir) args.push("--bind", options.workspaceDir, WORKSPACE_DIR);
  else args.push("--size", String(options.tmpfsBytes), "--tmpfs", WORKSPACE_DIR);
  // Everything but /workspace and /tmp read-only, including the new root itself.
  args.push("--remount-ro", "/");
  if (options.seccompFd !== undefined) args.push("--seccomp", String(options.seccompFd));
  args.push("--chdir", WORKSPACE_DIR, "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin");
  for (const [key, value] of Object.entries(options.env ?? {})) args.push("--setenv", key, value);
  return args;
}

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

export function passwdFile(uid: number): string {
  return `sandbox:x:${uid}:${uid}:sandbox:/tmp:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`;
}

export function groupFile(uid: number): string {
  return `sandbox:x:${uid}:\nnogroup:x:65534:\n`;
}
