import { type ChildProcess, spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { type SeccompArchitecture, seccompBpf } from "@code-interpreter/core/policy";
import { removeTree } from "@code-interpreter/core/workspace";
import type { V1Container, V1PodCondition } from "@kubernetes/client-node";
import type { Faults } from "./faults.js";
import { type PodRecord, timestamp } from "./pod-record.js";
import type { PodRuntime, PodStream, StreamRequest, StreamSinks } from "./pod-runtime.js";
import {
  admitPod,
  condition,
  DEADLINE_EXCEEDED,
  DEFAULT_HANDLER,
  refuseHandler,
  runInitContainers,
  running,
  setPodStatus,
  terminated,
  waiting,
} from "./pod-status.js";
import { parseQuantity } from "./quantity.js";
import { groupFile, passwdFile, sandboxArgs } from "./sandbox-args.js";
import { containerSeccomp } from "./seccomp-profiles.js";

const SECCOMP_ARCHITECTURES: Partial<Record<NodeJS.Architecture, SeccompArchitecture>> = { x64: "x86_64", arm64: "aarch64" };

export interface ProcessPodsOptions {
  instanceId: string;
  /** Processes per sandbox (RLIMIT_NPROC), standing in for the kubelet's `podPidsLimit`. */
  podPidsLimit: number;
  /** Called whenever a pod's status changes. */
  touch: (record: PodRecord) => void;
  /** @default "bwrap" on PATH */
  bwrapPath?: string;
  /** Root filesystem of every container (standing in for the image), bound read-only as `/`. @default the host's /usr */
  rootfs?: string;
  /** Where `Localhost` seccomp profiles are read from, as a kubelet reads /var/lib/kubelet/seccomp. @default none: such pods fail to start */
  seccompProfileRoot?: string;
}

/** uid for containers whose securityContext names none: nobody. */
const DEFAULT_UID = 65534;

/** What the runtime holds for one pod. */
interface ProcessPod {
  dir: string;
  uid: number;
  gid: number;
  /** emptyDir volume name → host directory. */
  volumes: Map<string, string>;
  /** Every sandbox of the pod (init, main, execs), killed with it. */
  processes: Set<ChildProcess>;
  /** Container name → the seccomp BPF program of its Localhost profile; none: unconfined. */
  seccomp: Map<string, Buffer>;
  main?: MainProcess;
}

/** The main sandbox: its pipes, and the output produced before the first attach. */
interface MainProcess {
  child: ChildProcess;
  exited: Promise<number>;
  stdinOnce: boolean;
  pending: { stream: "stdout" | "stderr"; data: Buffer }[] | undefined;
  sinks?: StreamSinks;
}

/**
 * Runs each pod's containers as bubblewrap sandboxes on this host: the
 * image is ignored (programs come from `rootfs`, e.g. the prepared sandbox
 * environment the executor image is made from, else the host's /usr; Python
 * is /usr/bin/python3 there), the uid and gid come from the securityContext, each
 * emptyDir is a host directory of the pod bound at its mountPath, the
 * memory limit becomes RLIMIT_AS (twice the limit) and the pids limit RLIMIT_NPROC. An exec is
 * a new sandbox with the same directories bound: it shares the pod's files,
 * not its pid or network namespace.
 */
export class ProcessPods implements PodRuntime {
  private readonly pods = new Map<PodRecord, ProcessPod>();
  private root: Promise<string> | undefined;

  constructor(private readonly options: ProcessPodsOptions) {}

  async run(record: PodRecord, faults: Faults): Promise<void> {
    const spec = record.pod.spec;
    const main = spec?.containers[0];
    if (!spec || !main) return;
    // The process runtime ignores images: only an injected pull failure stops a pod.
    const scheduled = await admitPod(record, faults, async () => true, this.options.touch);
    if (!scheduled) return;
    if (record.handler !== undefined && record.handler !== DEFAULT_HANDLER) {
      // gVisor and the like need an OCI runtime; these pods are bubblewrap sandboxes, so only runc's stand-in exists.
      return refuseHandler(
        record,
        this.options.touch,
        `the double's process runtime has no runtime handler "${record.handler}" (only ${DEFAULT_HANDLER}): run such pods on its docker runtime`,
      );
    }
    const pod = await this.prepare(record);
    if (!pod) return;
    const refused = await this.loadSeccomp(record, pod, [...(spec.initContainers ?? []), main]);
    if (refused) {
      // As a kubelet whose runtime cannot load the profile: the pod stays Pending with the reason.
      this.update(record, "Pending", [scheduled], { containerStatuses: [waiting(main, "CreateContainerError", refused)] });
      return;
    }
    record.pod.status = { ...record.pod.status, startTime: timestamp() as unknown as Date, hostIP: "127.0.0.1" };
    this.armDeadline(record, pod);
    const initStatuses = await runInitContainers(
      spec,
      (phase, statuses) => {
        if (!record.deleted) this.update(record, phase, [scheduled], { initContainerStatuses: statuses });
      },
      async (init) => {
        if (record.deleted) return undefined;
        const child = this.spawnSandbox(record, pod, init, init.command ?? [], init.args ?? []);
        child.stdin?.end();
        child.stdout?.resume();
        child.stderr?.resume();
        const exitCode = await exitOf(child);
        return record.deleted ? undefined : exitCode;
      },
    );
    if (!initStatuses) return;
    if (record.deleted) return;
    const child = this.spawnSandbox(record, pod, main, main.command ?? [], main.args ?? []);
    const mainProcess: MainProcess = { child, exited: exitOf(child), stdinOnce: main.stdinOnce === true, pending: [] };
    pod.main = mainProcess;
    if (main.stdin !== true) child.stdin?.end();
    for (const stream of ["stdout", "stderr"] as const) {
      child[stream]?.on("data", (data: Buffer) => {
        if (mainProcess.sinks) mainProcess.sinks[stream](data);
        else mainProcess.pending?.push({ stream, data });
      });
    }
    record.containers.set(main.name, String(child.pid ?? ""));
    this.update(record, "Running", [scheduled, condition("Initialized", "True"), condition("Ready", "True")], {
      initContainerStatuses: initStatuses,
      containerStatuses: [running(main)],
    });
    const exitCode = await mainProcess.exited;
    if (record.deleted) return;
    clearTimeout(record.deadlineTimer);
    const extra = record.deadlineExceeded ? DEADLINE_EXCEEDED : {};
    this.update(record, exitCode === 0 && !record.deadlineExceeded ? "Succeeded" : "Failed", [scheduled, condition("Ready", "False")], {
      initContainerStatuses: initStatuses,
      containerStatuses: [terminated(main, exitCode, exitCode === 0 ? "Completed" : "Error")],
      ...extra,
    });
  }

  async remove(record: PodRecord): Promise<void> {
    record.deleted = true;
    clearTimeout(record.deadlineTimer);
    await record.creating?.catch(() => {});
    const pod = this.pods.get(record);
    if (!pod) return;
    await killAll(pod.processes);
    this.pods.delete(record);
    await removeTree(pod.dir);
  }

  async openStream(record: PodRecord, container: string, request: StreamRequest, sinks: StreamSinks): Promise<PodStream> {
    const pod = this.pods.get(record);
    const spec = record.pod.spec?.containers.find((candidate) => candidate.name === container);
    if (!pod || !spec) throw new Error(`container ${container} is not running`);
    return request.kind === "exec" ? this.exec(record, pod, spec, request, sinks) : attach(pod, request, sinks);
  }

  /** Sandboxes still running and pod directories still present. */
  async leftovers(): Promise<string[]> {
    const processes = [...this.pods].flatMap(([record, pod]) =>
      [...pod.processes].map((child) => `process ${child.pid} of pod ${record.pod.metadata?.namespace}/${record.pod.metadata?.name}`),
    );
    const root = this.root && (await this.root.catch(() => undefined));
    const dirs = root ? await readdir(root).catch(() => []) : [];
    return [...processes, ...dirs.map((dir) => `directory ${join(root ?? "", dir)}`)];
  }

  async close(): Promise<void> {
    await Promise.all([...this.pods.values()].map((pod) => killAll(pod.processes)));
    this.pods.clear();
    const root = this.root && (await this.root.catch(() => undefined));
    if (root) await removeTree(root);
    this.root = undefined;
  }

  /** A new sandbox with the pod's directories bound, running the exec's command. */
  private exec(record: PodRecord, pod: ProcessPod, spec: V1Container, request: StreamRequest, sinks: StreamSinks): PodStream {
    const child = this.spawnSandbox(record, pod, spec, request.command, []);
    if (!request.stdin) child.stdin?.end();
    child.stdout?.on("data", (data: Buffer) => request.stdout && sinks.stdout(data));
    child.stderr?.on("data", (data: Buffer) => request.stderr && sinks.stderr(data));
    return {
      write: (data) => child.stdin?.write(data),
      endInput: () => child.stdin?.end(),
      // As with the kubelet, hanging up does not stop an exec: it ends by itself, or with the pod.
      hangUp: () => child.stdin?.end(),
      finished: exitOf(child),
    };
  }

  /** The pod's directory (0711, so the pod's uid can reach in) with its emptyDirs (0700, owned by the uid). */
  private async prepare(record: PodRecord): Promise<ProcessPod | undefined> {
    if (record.deleted) return undefined;
    const creating = (async () => {
      this.root ??= mkdtemp(join(tmpdir(), `k8s-double-${this.options.instanceId.slice(0, 8)}-`));
      const root = await this.root;
      await chmod(root, 0o711);
      const context = { ...record.pod.spec?.securityContext, ...record.pod.spec?.containers[0]?.securityContext };
      const uid = context.runAsUser ?? DEFAULT_UID;
      const gid = context.runAsGroup ?? uid;
      const dir = await mkdtemp(join(root, `${record.pod.metadata?.namespace}_${record.pod.metadata?.name}-`));
      const pod: ProcessPod = { dir, uid, gid, volumes: new Map(), processes: new Set(), seccomp: new Map() };
      this.pods.set(record, pod);
      await chmod(dir, 0o711);
      await writeFile(join(dir, "passwd"), passwdFile(uid, gid), { mode: 0o644 });
      await writeFile(join(dir, "group"), groupFile(gid), { mode: 0o644 });
      for (const volume of record.pod.spec?.volumes ?? []) {
        if (!volume.emptyDir) continue;
        const path = join(dir, `volume-${volume.name}`);
        await mkdir(path, { mode: 0o700 });
        if (process.getuid?.() === 0) await chown(path, uid, gid);
        pod.volumes.set(volume.name, path);
      }
      return pod;
    })();
    record.creating = creating;
    const pod = await creating;
    return record.deleted ? undefined : pod;
  }

  /**
   * Compiles each container's Localhost seccomp profile into the BPF program
   * bubblewrap loads, as a runtime turns it into the container's filter.
   * `RuntimeDefault` runs unconfined: this runtime has no default profile.
   * Returns why a profile cannot be loaded, if one cannot.
   */
  private async loadSeccomp(record: PodRecord, pod: ProcessPod, containers: V1Container[]): Promise<string | undefined> {
    for (const container of containers) {
      const choice = await containerSeccomp(record.pod, container, this.options.seccompProfileRoot);
      if (choice.kind === "error") return choice.message;
      if (choice.kind !== "localhost") continue;
      const arch = SECCOMP_ARCHITECTURES[process.arch];
      if (!arch) return `cannot load a seccomp profile on ${process.arch}`;
      try {
        pod.seccomp.set(container.name, seccompBpf(choice.profile, arch));
      } catch (error) {
        return `cannot load seccomp profile ${container.securityContext?.seccompProfile?.localhostProfile}: ${(error as Error).message}`;
      }
    }
    return undefined;
  }

  private spawnSandbox(record: PodRecord, pod: ProcessPod, container: V1Container, command: string[], args: string[]): ChildProcess {
    const seccomp = pod.seccomp.get(container.name);
    const binds = (container.volumeMounts ?? []).flatMap((mount) => {
      const source = pod.volumes.get(mount.name);
      return source ? [{ source, target: mount.mountPath }] : [];
    });
    // The memory limit becomes RLIMIT_AS, which (unlike a cgroup) counts address space that is only reserved: the 64 MB
    // glibc reserves per thread's arena, Node's heap reservations (npm aborts at 512 MB with its default arenas). Twice
    // the limit still stops a memory bomb, as the cgroup would, without failing programs a pod runs.
    const env: Record<string, string> = { PATH: "/usr/bin:/bin", HOME: "/tmp", LANG: "C.UTF-8", MALLOC_ARENA_MAX: "2" };
    for (const variable of container.env ?? []) env[variable.name] = variable.value ?? "";
    const memory = parseQuantity(container.resources?.limits?.memory);
    const argv = sandboxArgs({
      hostname: record.pod.metadata?.name ?? "pod",
      binds,
      passwdFile: join(pod.dir, "passwd"),
      groupFile: join(pod.dir, "group"),
      workingDir: container.workingDir,
      env,
      addressSpaceBytes: memory === undefined ? undefined : memory * 2,
      processes: this.options.podPidsLimit,
      argv: [...command, ...args],
      rootfs: this.options.rootfs,
      // The program reaches bubblewrap on fd 3.
      seccompFd: seccomp ? 3 : undefined,
    });
    const root = process.getuid?.() === 0;
    const child = spawn(this.options.bwrapPath ?? "bwrap", argv, {
      stdio: ["pipe", "pipe", "pipe", ...(seccomp ? (["pipe"] as const) : [])],
      detached: true,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      ...(root ? { uid: pod.uid, gid: pod.gid } : {}),
    });
    for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.on("error", () => {});
    if (seccomp) {
      const filter = child.stdio[3] as Writable;
      filter.on("error", () => {});
      filter.end(seccomp);
    }
    pod.processes.add(child);
    child.once("close", () => pod.processes.delete(child));
    child.once("error", () => pod.processes.delete(child));
    return child;
  }

  /** Kills the pod's sandboxes when it has been active longer than `activeDeadlineSeconds`, like the kubelet. */
  private armDeadline(record: PodRecord, pod: ProcessPod): void {
    const seconds = record.pod.spec?.activeDeadlineSeconds;
    if (!seconds) return;
    record.deadlineTimer = setTimeout(() => {
      record.deadlineExceeded = true;
      void killAll(pod.processes);
    }, seconds * 1000);
    record.deadlineTimer.unref();
  }

  private update(record: PodRecord, phase: string, conditions: V1PodCondition[], extra: Record<string, unknown> = {}): void {
    setPodStatus(record, this.options.touch, phase, conditions, extra);
  }
}

/** Attach to the main sandbox: its pipes; the first attach also gets what it wrote before. */
function attach(pod: ProcessPod, request: StreamRequest, sinks: StreamSinks): PodStream {
  const main = pod.main;
  if (!main) throw new Error("the main container is not running");
  const { child } = main;
  let detach = () => {};
  const finished = new Promise<number>((resolve) => {
    detach = () => resolve(0);
    main.exited.then(() => resolve(0));
  });
  const delivered = {
    stdout: (data: Buffer) => request.stdout && sinks.stdout(data),
    stderr: (data: Buffer) => request.stderr && sinks.stderr(data),
  };
  main.sinks = delivered;
  for (const chunk of main.pending ?? []) delivered[chunk.stream](chunk.data);
  main.pending = undefined;
  const input = request.stdin ? child.stdin : undefined;
  return {
    write: (data) => input?.write(data),
    endInput: () => input?.end(),
    hangUp: () => {
      if (main.sinks === delivered) main.sinks = undefined;
      if (main.stdinOnce) input?.end();
      detach();
    },
    finished,
  };
}

/** Exit code of a sandbox once its output is drained; a signal counts as 128 + its number, like a container's. */
function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once("error", () => resolve(127));
    child.once("close", (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 9)));
  });
}

/** SIGKILL to each sandbox's process group (bwrap was started as a group leader); waits until they are gone. */
async function killAll(processes: Set<ChildProcess>): Promise<void> {
  const waits = [...processes].map((child) => {
    // Still in the set: its "close" has not come yet.
    const closed = new Promise<void>((resolve) => {
      child.once("close", () => resolve());
      child.once("error", () => resolve());
    });
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
    return closed;
  });
  await Promise.all(waits);
}
