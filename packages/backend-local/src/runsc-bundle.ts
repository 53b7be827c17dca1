import { WORKSPACE_DIR } from "@code-interpreter/core/engine";
import { GVISOR_SYSCALL_POLICY, type OciSeccompProfile, ociSeccompProfile } from "@code-interpreter/core/policy";
import { RUNTIME_LABEL_KEY } from "@code-interpreter/core/sandbox";

/** Annotation on a runsc container naming the pid of the server that started it (the reaper removes those of dead servers). */
export const SERVER_PID_ANNOTATION = "code-interpreter.server-pid";

/** Annotation on a runsc container naming the sandbox it is (`code-exec-…`, `code-session-…`). */
export const SANDBOX_NAME_ANNOTATION = "code-interpreter.sandbox";

/** What one gVisor sandbox gets: the same view as a bubblewrap sandbox (see BwrapOptions). */
export interface RunscBundleOptions {
  /** Sandbox name, also its hostname: `code-exec-<uuid>` or `code-session-<uuid>`. */
  name: string;
  uid: number;
  /** The prepared root filesystem, mounted read-only as `/`. */
  rootfs: string;
  /** What the sandbox runs: the runner, a session's command runner or kernel. */
  argv: string[];
  /** The runner's environment, on top of PATH. */
  env?: Record<string, string>;
  /** Host directory to bind at /workspace; a fresh size-limited tmpfs when absent. */
  workspaceDir?: string;
  /** Size of the tmpfs /workspace, /tmp and /dev/shm. */
  tmpfsBytes: number;
  /** Host files (in the bundle) bound read-only as /etc/passwd and /etc/group. */
  passwdPath: string;
  groupPath: string;
  /**
   * Memory of the whole sandbox (its user-space kernel included), applied by
   * runsc as a memory cgroup and as the memory the sandbox sees; the code's
   * own share is its RLIMIT_AS, which the runner sets.
   */
  memoryBytes?: number;
  /** Pid of the server, recorded so a later server can remove what a dead one left. */
  serverPid?: number;
}

/** An OCI runtime spec (the part of it these bundles use). */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    rlimits: { type: string; hard: number; soft: number }[];
    capabilities: Record<"bounding" | "effective" | "permitted" | "inheritable" | "ambient", string[]>;
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  annotations: Record<string, string>;
  linux: {
    namespaces: { type: string }[];
    resources?: { memory?: { limit: number } };
    seccomp?: OciSeccompProfile;
  };
}

/**
 * The OCI `config.json` of a gVisor sandbox: the prepared root filesystem
 * read-only as `/`, size-limited tmpfs `/tmp` and `/dev/shm` (and
 * `/workspace` for one-shot runs, else the session's workspace bound in),
 * the sandbox user's passwd and group files, no capabilities, no new
 * privileges, every namespace of its own (its network one has only loopback:
 * runsc runs with `--network=none`), and the syscall policy every backend
 * loads (core's SYSCALL_POLICY), which gVisor's kernel applies inside the
 * sandbox (`--oci-seccomp`). The runner sets the code's rlimits
 * itself (CPU time, file size, open files, address space, processes); the
 * spec only bounds core dumps and the runner's own open files.
 */
export function runscSpec(options: RunscBundleOptions): OciSpec {
  const size = `size=${options.tmpfsBytes}`;
  const workspace = options.workspaceDir
    ? { destination: WORKSPACE_DIR, type: "bind", source: options.workspaceDir, options: ["rbind", "rw", "nosuid", "nodev"] }
    : { destination: WORKSPACE_DIR, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", size, "mode=1777"] };
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: options.uid, gid: options.uid },
      args: options.argv,
      env: Object.entries({ PATH: "/usr/local/bin:/usr/bin:/bin", ...options.env }).map(([key, value]) => `${key}=${value}`),
      cwd: WORKSPACE_DIR,
      rlimits: [
        { type: "RLIMIT_CORE", hard: 0, soft: 0 },
        { type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 },
      ],
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: options.rootfs, readonly: true },
    hostname: options.name,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", size, "mode=1777"] },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", size, "mode=1777"] },
      workspace,
      { destination: "/etc/passwd", type: "bind", source: options.passwdPath, options: ["rbind", "ro"] },
      { destination: "/etc/group", type: "bind", source: options.groupPath, options: ["rbind", "ro"] },
    ],
    annotations: {
      [RUNTIME_LABEL_KEY]: "gvisor",
      [SANDBOX_NAME_ANNOTATION]: options.name,
      ...(options.serverPid === undefined ? {} : { [SERVER_PID_ANNOTATION]: String(options.serverPid) }),
    },
    linux: {
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      seccomp: GVISOR_SECCOMP_PROFILE,
      ...(options.memoryBytes === undefined ? {} : { resources: { memory: { limit: options.memoryBytes } } }),
    },
  };
}

/** The shared syscall policy as gVisor loads it: without its clone3 rule (see GVISOR_SYSCALL_POLICY). */
const GVISOR_SECCOMP_PROFILE: OciSeccompProfile = ociSeccompProfile(GVISOR_SYSCALL_POLICY);

/** How runsc is run: its binary, its state directory and its platform. */
export interface RunscOptions {
  /** runsc binary. */
  runscPath: string;
  /** runsc's state directory (`--root`): the containers of one backend's state directory. */
  stateRoot: string;
  /** `ptrace` (works everywhere) or `kvm` (hangs on some hosts, this one included) or `systrap`. */
  platform: string;
}

/**
 * runsc's global flags: its state directory, its platform, no network at
 * all (`--network=none`: only loopback inside), and the spec's seccomp
 * profile loaded inside the sandbox (`--oci-seccomp`). Run as root; runsc
 * applies the spec's memory limit as a cgroup of the sandbox.
 */
export function runscGlobalArgs(options: RunscOptions): string[] {
  return ["--root", options.stateRoot, `--platform=${options.platform}`, "--network=none", "--oci-seccomp"];
}

/** `runsc … run --bundle <dir> <id>`: the sandbox's runner is the foreground process, on runsc's stdin and stdout. */
export function runscRunArgs(options: RunscOptions, bundleDir: string, containerId: string): string[] {
  return [...runscGlobalArgs(options), "run", "--bundle", bundleDir, containerId];
}

/** `runsc … restore --image-path <image> --bundle <dir> <id>`: a checkpointed sandbox goes on, its runner on runsc's new stdin and stdout. */
export function runscRestoreArgs(options: RunscOptions, bundleDir: string, containerId: string, imageDir: string): string[] {
  return [...runscGlobalArgs(options), "restore", "--image-path", imageDir, "--bundle", bundleDir, containerId];
}

/** `runsc … checkpoint --image-path <image> <id>`: saves the sandbox's processes and memory, and ends it. */
export function runscCheckpointArgs(options: RunscOptions, containerId: string, imageDir: string): string[] {
  return [...runscGlobalArgs(options), "checkpoint", "--image-path", imageDir, containerId];
}
