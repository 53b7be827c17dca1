import { readFileSync } from "node:fs";
import { WORKSPACE_DIR } from "@code-interpreter/core/engine";
import { ociSeccompProfile, SYSCALL_POLICY, type SyscallDenial } from "@code-interpreter/core/policy";
import { runnerArgv, syscallFilterArguments } from "@code-interpreter/core/runner";
import type { ContainerCreateOptions } from "dockerode";
import { execContainerSpec, hardenedHostConfig } from "./container-spec.js";
import type { DockerBackendSettings } from "./docker-backend-settings.js";

let hostSource: string | undefined;

/** The host's Python source (`nested-host.py`, shipped beside this package's `dist/`). */
export function nestedHostSource(): string {
  hostSource ??= readFileSync(new URL("../src/nested-host.py", import.meta.url), "utf8");
  return hostSource;
}

/** Syscalls bubblewrap needs to make the nested sandbox: namespaces and mounts, which the sandbox's policy denies. */
const NESTING_SYSCALLS = new Set(["mount", "unshare", "clone"]);

/**
 * The policy of a pooled container itself (its seccomp profile): the sandbox's, without the denials of
 * namespaces and mounts, which its host's bubblewrap needs. The code never runs under this one alone: each
 * nested runner loads the whole SYSCALL_POLICY on itself before anything else (`--seccomp`), and every process
 * of the code inherits it.
 */
export const HOST_SYSCALL_POLICY: readonly SyscallDenial[] = SYSCALL_POLICY.filter(
  (denial) => !denial.names.some((name) => NESTING_SYSCALLS.has(name)),
);

/** Paths Docker masks in a container (an empty file or directory over them), which `systempaths=unconfined` leaves bare: masked again in the nested sandbox. */
export const MASKED_PROC_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Paths Docker makes read-only in a container's /proc beyond those bubblewrap's `--proc` already does (sys, sysrq-trigger, irq, bus). */
export const READ_ONLY_PROC_PATHS = ["/proc/fs"];

/** The size of the nested sandbox's own /dev/shm, as Docker's (ShmSize). */
const SHM_BYTES = 64 * 1024 * 1024;

/**
 * bubblewrap's command line for one execution, before and after the /proc masks (the host adds those this
 * kernel has): new user (uid 65532 mapped to itself only), pid, mount, IPC, UTS and cgroup namespaces; the
 * container's read-only root; a fresh /proc, /dev and /dev/shm; the container's tmpfs /workspace and /tmp (their
 * size and inode limits), which the host wipes after; no further user namespaces. Dies with its host.
 */
export function nestedSandboxConfig(): { before: string[]; masked: string[]; read_only: string[]; after: string[] } {
  return {
    before: [
      "/usr/bin/bwrap",
      "--unshare-user",
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--unshare-cgroup-try",
      // The runner is the namespace's pid 1, as in a container of its own: code cannot kill it, and it ends everything.
      "--as-pid-1",
      "--die-with-parent",
      "--new-session",
      "--ro-bind",
      "/",
      "/",
      "--proc",
      "/proc",
    ],
    masked: MASKED_PROC_PATHS,
    read_only: READ_ONLY_PROC_PATHS,
    after: [
      "--dev",
      "/dev",
      "--size",
      String(SHM_BYTES),
      "--tmpfs",
      "/dev/shm",
      "--bind",
      WORKSPACE_DIR,
      WORKSPACE_DIR,
      "--bind",
      "/tmp",
      "/tmp",
      "--chdir",
      WORKSPACE_DIR,
      "--disable-userns",
      "--",
    ],
  };
}

/** The main process of a pooled container: the host, with the nested sandbox's configuration. */
export function nestedHostArgv(python = "python3"): string[] {
  return [python, "-I", "-c", nestedHostSource(), JSON.stringify(nestedSandboxConfig())];
}

/**
 * The one-shot runner one execution gets, inside its nested sandbox: it loads the whole syscall policy on
 * itself first (the container's own lacks the nesting calls), then preloads, if asked, and waits for its request.
 */
export function nestedRunnerArgv(preload: readonly string[], python = "python3"): string[] {
  return [...runnerArgv(python, { preload }), ...syscallFilterArguments(SYSCALL_POLICY)];
}

/** The processes a pooled container runs besides the code's: its host, bubblewrap and the nested sandbox's init. */
export const HOST_PROCESSES = 3;

/**
 * A pooled one-shot container (DOCKER_ONESHOT_REUSE): hardened as every container, but with the host's syscall
 * policy (namespaces and mounts allowed, for bubblewrap), an unmasked /proc (`systempaths=unconfined`, without
 * which the kernel refuses the nested sandbox a fresh /proc; the nested one is masked again), and room in its
 * pids limit for the host's processes. Labelled warm (made ahead of demand) with its age limit as deadline.
 */
export function reusedContainerSpec(settings: DockerBackendSettings, name: string, deadline: number): ContainerCreateOptions {
  const hardened = hardenedHostConfig(settings);
  return {
    ...execContainerSpec(settings, name, nestedHostArgv(), deadline, { warm: true }),
    HostConfig: {
      ...hardened,
      SecurityOpt: ["no-new-privileges", `seccomp=${JSON.stringify(ociSeccompProfile(HOST_SYSCALL_POLICY))}`],
      // The Engine API's form of `--security-opt systempaths=unconfined`.
      MaskedPaths: [],
      ReadonlyPaths: [],
      PidsLimit: (hardened.PidsLimit ?? settings.maxProcesses) + HOST_PROCESSES,
    },
  };
}
