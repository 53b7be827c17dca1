import { randomUUID } from "node:crypto";
import { EGRESS_MOUNT_PATH, EGRESS_SANDBOX_PORT, EGRESS_SOCKET_NAME } from "@code-interpreter/core";
import { sessionInitArgv, WORKSPACE_DIR, warmSessionInitArgv } from "@code-interpreter/core/engine";
import { GVISOR_SYSCALL_POLICY, ociSeccompProfile } from "@code-interpreter/core/policy";
import { loadRunnerSource } from "@code-interpreter/core/runner";
import {
  APP_LABEL,
  COMPONENT_LABEL_KEY,
  EXPIRES_AT_KEY,
  gvisorMemoryBytes,
  RUNTIME_LABEL_KEY,
  sandboxByteLimits,
  sandboxLabels,
  TENANT_KEY,
  WARM_LABEL_KEY,
} from "@code-interpreter/core/sandbox";
import type { ContainerCreateOptions, HostConfig } from "dockerode";
import { type DockerBackendSettings, ociRuntime } from "./docker-backend-settings.js";

const MB = 1024 * 1024;

/**
 * The sandbox's syscall policy (core's SYSCALL_POLICY) as the `seccomp=`
 * security option: ours on every engine, not the engine's default profile,
 * which differs between engine versions (20.10's allows io_uring, AF_VSOCK
 * and ptrace).
 */
export const SECCOMP_SECURITY_OPTION = `seccomp=${JSON.stringify(ociSeccompProfile())}`;

/**
 * The policy as gVisor loads it (GVISOR_SYSCALL_POLICY: no clone3 rule, with which no
 * thread starts under runsc 20221219). runsc applies it inside the sandbox only when
 * registered with `--oci-seccomp`, which the backend checks at start-up (probe-docker.ts).
 */
export const GVISOR_SECCOMP_SECURITY_OPTION = `seccomp=${JSON.stringify(ociSeccompProfile(GVISOR_SYSCALL_POLICY))}`;

/** The seccomp security option of a sandbox of this runtime. */
export function seccompSecurityOption(settings: Pick<DockerBackendSettings, "sandboxRuntime">): string {
  return settings.sandboxRuntime === "gvisor" ? GVISOR_SECCOMP_SECURITY_OPTION : SECCOMP_SECURITY_OPTION;
}

/**
 * The container's memory cgroup: the memory limit itself, or under gVisor also
 * room for gVisor's own kernel and each process's overhead (core's
 * gvisorMemoryBytes), so a fork bomb RLIMIT_NPROC holds is not OOM-killed first.
 */
export function memoryCgroupBytes(
  settings: Pick<DockerBackendSettings, "sandboxRuntime" | "memoryLimitMb" | "maxProcesses" | "workspaceSizeMb" | "maxFileSizeMb">,
): number {
  const { memoryBytes } = sandboxByteLimits(settings);
  return settings.sandboxRuntime === "gvisor" ? gvisorMemoryBytes(memoryBytes, settings.maxProcesses) : memoryBytes;
}

/** Label tying a keepalive record to its session (see session-expiry.ts). */
export const SESSION_LABEL_KEY = "code-interpreter.session";
/** Label ordering keepalive records: milliseconds since the epoch. */
export const KEEPALIVE_AT_KEY = "code-interpreter.keepalive-at";
/** `component` of keepalive records. */
export const KEEPALIVE_COMPONENT = "session-keepalive";

/**
 * Host threads and processes runsc needs besides one sandbox's own: its
 * sentry, gofer and their Go runtimes (below about 38 a sandbox does not
 * start: the container hangs in `created`).
 */
export const GVISOR_PIDS_BASE = 64;

/** Host threads runsc needs per task of the code at most (ptrace stubs, sentry threads); measured between 5 and 15. */
export const GVISOR_PIDS_PER_TASK = 16;

/**
 * The container's pids cgroup. Under gVisor it counts runsc's host threads
 * and the ptrace platform's stub processes (more than 5 per process of the
 * code: 128 processes did not fit in 1000), not the code's processes, and
 * reaching it kills the whole sandbox (exit 2): so it is only a backstop, set
 * above what `maxProcesses` tasks need, and the runner's RLIMIT_NPROC, which
 * gVisor's own kernel counts for this sandbox alone, makes fork fail with
 * EAGAIN at `maxProcesses`.
 */
export function pidsLimit(settings: Pick<DockerBackendSettings, "maxProcesses" | "sandboxRuntime">): number {
  return settings.sandboxRuntime === "gvisor" ? GVISOR_PIDS_BASE + GVISOR_PIDS_PER_TASK * settings.maxProcesses : settings.maxProcesses;
}

/**
 * The isolation every container gets: non-root, no capabilities, no new
 * privileges, the sandbox's seccomp profile, read-only root, size- and inode-limited tmpfs workspace and /tmp, memory
 * without swap (under gVisor with room for its kernel: memoryCgroupBytes), a CPU quota, a pids limit and no network
 * unless configured.
 */
export function hardenedHostConfig(settings: DockerBackendSettings, options: { egressDir?: string } = {}): HostConfig {
  const uid = settings.sandboxUid;
  // Docker mounts tmpfs noexec by default; code may run what it writes, as on the other backends.
  // nr_inodes: empty files cost no size, only kernel memory; one inode per KiB of size bounds them too.
  const tmpfs = `rw,exec,nosuid,nodev,size=${settings.workspaceSizeMb}m,nr_inodes=${settings.workspaceSizeMb * 1024}`;
  const memoryBytes = memoryCgroupBytes(settings);
  return {
    NetworkMode: settings.network,
    ...(options.egressDir ? { Mounts: [egressMount(options.egressDir)] } : {}),
    CapDrop: ["ALL"],
    SecurityOpt: ["no-new-privileges", seccompSecurityOption(settings)],
    ReadonlyRootfs: true,
    Tmpfs: {
      [WORKSPACE_DIR]: `${tmpfs},mode=0755,uid=${uid},gid=${uid}`,
      "/tmp": `${tmpfs},mode=1777`,
    },
    Memory: memoryBytes,
    MemorySwap: memoryBytes,
    NanoCpus: Math.round(settings.cpus * 1e9),
    PidsLimit: pidsLimit(settings),
    ShmSize: 64 * MB,
    // A core dump would land in the workspace and come back as a "new file".
    Ulimits: [{ Name: "core", Soft: 0, Hard: 0 }],
    // Output travels over the attach stream; a log driver would keep a copy on the host's disk.
    LogConfig: { Type: "none", Config: {} },
    Init: false,
    Privileged: false,
    AutoRemove: false,
    ...(ociRuntime(settings) ? { Runtime: ociRuntime(settings) } : {}),
  };
}

/**
 * The egress proxy's directory for this sandbox (issue 22: its Unix socket and CA bundle), bound read-only at
 * EGRESS_MOUNT_PATH. A bind mount (not `Binds`), so a directory that is gone fails the create instead of
 * being made empty on the host. The network stays `none`: this socket is the only way out.
 */
export function egressMount(hostDirectory: string): NonNullable<HostConfig["Mounts"]>[number] {
  return { Type: "bind", Source: hostDirectory, Target: EGRESS_MOUNT_PATH, ReadOnly: true };
}

/** Where the forwarder in a sandbox finds the proxy's socket. */
export const EGRESS_SOCKET_PATH = `${EGRESS_MOUNT_PATH}/${EGRESS_SOCKET_NAME}`;

/** How the runner's bundle ends: the call that runs its __main__ (see packages/core/scripts/bundle-runner.ts). */
const RUNNER_MAIN_CALL = 'sys.modules["code_interpreter_runner.__main__"].main(sys.argv)';

/**
 * Main process of a session container with a way out: the session init (`sessionInitArgv`), which first starts
 * the runner's egress forwarder (its egress.py) on 127.0.0.1:EGRESS_SANDBOX_PORT. A container is one network
 * namespace shared by every exec, so the forwarder is started once, by the process that lives as long as the
 * container: it ends with its starter, and every kernel and command runner exec'd later reaches it.
 * The runner's modules come from its bundle, without the bundle's call to its __main__.
 */
export function egressSessionInitArgv(python = "python3"): string[] {
  const runner = loadRunnerSource();
  const end = runner.lastIndexOf(RUNNER_MAIN_CALL);
  if (end < 0 || runner.slice(end + RUNNER_MAIN_CALL.length).trim() !== "") {
    throw new Error("egressSessionInitArgv: the runner bundle no longer ends with its call to __main__");
  }
  const [, isolated, flag, init] = sessionInitArgv(python);
  const forwarder = `from code_interpreter_runner.egress import start_forwarder
if not start_forwarder(${JSON.stringify(EGRESS_SOCKET_PATH)}, ${EGRESS_SANDBOX_PORT}):
    sys.stderr.write("code-interpreter: could not start the egress forwarder on port ${EGRESS_SANDBOX_PORT}\\n")
`;
  return [python, isolated as string, flag as string, `${runner.slice(0, end)}${forwarder}${init}`];
}

/**
 * Labels of a container: the operator's extra ones, then ours (which win),
 * among them its sandbox runtime, so a backend of the other runtime on the
 * same engine never takes it (see isOfRuntime).
 */
export function containerLabels(settings: DockerBackendSettings, own: Record<string, string>): Record<string, string> {
  return { ...settings.labels, ...own, [RUNTIME_LABEL_KEY]: settings.sandboxRuntime };
}

/** Defined once in core: containers made ahead of demand (warm) carry it; re-exported here as before. */
export { WARM_LABEL_KEY };

/**
 * A one-shot container: the runner is its main process and reads the request
 * on stdin. `env` is the code's environment, which a preloading runner needs
 * from the start.
 */
export function execContainerSpec(
  settings: DockerBackendSettings,
  name: string,
  runner: string[],
  deadline: number,
  options: { env?: Record<string, string>; warm?: boolean; egressDir?: string } = {},
): ContainerCreateOptions {
  return {
    name,
    Image: settings.image,
    Cmd: runner,
    Entrypoint: [],
    Env: Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`),
    User: `${settings.sandboxUid}:${settings.sandboxUid}`,
    WorkingDir: WORKSPACE_DIR,
    Labels: containerLabels(settings, {
      ...sandboxLabels("exec"),
      [EXPIRES_AT_KEY]: String(deadline),
      ...(options.warm ? { [WARM_LABEL_KEY]: "true" } : {}),
    }),
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    HostConfig: hardenedHostConfig(settings, { egressDir: options.egressDir }),
  };
}

/**
 * A session container: a small reaper as main process; commands run in it by
 * exec. A `warm` one waits in the session pool under its future session id:
 * it becomes that session when a keepalive record claims it (labels cannot
 * change). Its init watches its stdin, which its server holds open by an
 * attach until the claim: a server that dies first takes it along
 * (`warmSessionInitArgv`). With `egressDir` (never warm) it is bound in, and
 * the init starts the egress forwarder (`egressSessionInitArgv`).
 */
export function sessionContainerSpec(
  settings: DockerBackendSettings,
  id: string,
  expiresAt: number,
  tenant?: string,
  warm = false,
  egressDir?: string,
): ContainerCreateOptions {
  if (warm && egressDir) throw new Error("a warm session container is never given a way out");
  return {
    name: id,
    Image: settings.image,
    Cmd: warm ? warmSessionInitArgv() : egressDir ? egressSessionInitArgv() : sessionInitArgv(),
    Entrypoint: [],
    User: `${settings.sandboxUid}:${settings.sandboxUid}`,
    WorkingDir: WORKSPACE_DIR,
    Labels: containerLabels(settings, {
      ...sandboxLabels("session"),
      [EXPIRES_AT_KEY]: String(expiresAt),
      ...(tenant === undefined ? {} : { [TENANT_KEY]: tenant }),
      ...(warm ? { [WARM_LABEL_KEY]: "true" } : {}),
    }),
    ...(warm ? { AttachStdin: true, AttachStdout: true, AttachStderr: true, OpenStdin: true, StdinOnce: true } : {}),
    Tty: false,
    HostConfig: hardenedHostConfig(settings, { egressDir }),
  };
}

/**
 * A keepalive record: a container that is created and never started, whose
 * labels carry a session's new expiry (Docker labels cannot change), and its
 * tenant: the first record of a warm session container is its claim.
 */
export function keepaliveContainerSpec(
  settings: DockerBackendSettings,
  sessionId: string,
  expiresAt: number,
  tenant?: string,
): ContainerCreateOptions {
  const now = Date.now();
  return {
    name: `${sessionId}-keepalive-${randomUUID().slice(0, 8)}`,
    Image: settings.image,
    Cmd: ["true"],
    Entrypoint: [],
    User: `${settings.sandboxUid}:${settings.sandboxUid}`,
    Labels: containerLabels(settings, {
      [APP_LABEL.key]: APP_LABEL.value,
      [COMPONENT_LABEL_KEY]: KEEPALIVE_COMPONENT,
      [SESSION_LABEL_KEY]: sessionId,
      [EXPIRES_AT_KEY]: String(expiresAt),
      [KEEPALIVE_AT_KEY]: String(now),
      ...(tenant === undefined ? {} : { [TENANT_KEY]: tenant }),
    }),
    HostConfig: hardenedHostConfig(settings),
  };
}
