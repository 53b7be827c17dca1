import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { Writable } from "node:stream";
import type { V1Container, V1Pod, V1PodCondition } from "@kubernetes/client-node";
import type Dockerode from "dockerode";
import type { Faults } from "./faults.js";
import { podResolvConf } from "./pod-dns.js";
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
import { containerSeccomp } from "./seccomp-profiles.js";

/** Label on every Docker container the double starts (not `app=code-interpreter`, so the Docker backend's leftover checks ignore them). */
export const DOUBLE_APP_LABEL = { key: "app", value: "code-interpreter-kubernetes-double" } as const;
/** Label naming the double instance that started a container. */
export const DOUBLE_INSTANCE_LABEL = "code-interpreter-kubernetes-double.instance";

export interface DockerPodsOptions {
  docker: Dockerode;
  instanceId: string;
  /** Extra labels on every container, e.g. a test run id. */
  labels: Record<string, string>;
  /** Processes per container, as a kubelet's `podPidsLimit` would set. */
  podPidsLimit: number;
  /** Called whenever a pod's status changes. */
  touch: (record: PodRecord) => void;
  /** Where `Localhost` seccomp profiles are read from, as a kubelet reads /var/lib/kubelet/seccomp. @default none: such pods fail to start */
  seccompProfileRoot?: string;
  /** The Docker network pods' containers join (the double's internal bridge, see pod-network.ts). @default none: no network */
  network?: string;
}

/**
 * Runs pods as containers on the local Docker engine, the way a kubelet with
 * runc would: the container's securityContext, emptyDir volumes as tmpfs,
 * resource limits as cgroup limits, no network (or the double's internal
 * bridge, `podNetwork`), `activeDeadlineSeconds`.
 */
export class DockerPods implements PodRuntime {
  /** The runtimes the engine has registered, asked once. */
  private runtimes: Promise<string[]> | undefined;

  /** Where the pods' resolv.conf files are written, made on first use. */
  private dnsDir: Promise<string> | undefined;
  /** Each resolv.conf written, by content: written once, never rewritten under a running pod. */
  private readonly resolvConfs = new Map<string, Promise<string>>();

  constructor(private readonly options: DockerPodsOptions) {}

  /** Schedules, "pulls", runs the init containers, then the main container, and records how it ends. */
  async run(record: PodRecord, faults: Faults): Promise<void> {
    const { pod } = record;
    const spec = pod.spec;
    const main = spec?.containers[0];
    if (!spec || !main) return;
    const scheduled = await admitPod(record, faults, (image) => this.imagePresent(image), this.options.touch);
    if (!scheduled) return;
    const handlerProblem = await this.handlerProblem(record.handler);
    if (handlerProblem) return refuseHandler(record, this.options.touch, handlerProblem);
    pod.status = { ...pod.status, startTime: timestamp() as unknown as Date, hostIP: "127.0.0.1" };
    this.armDeadline(record);
    const initStatuses = await runInitContainers(
      spec,
      (phase, statuses) => this.update(record, phase, [scheduled], { initContainerStatuses: statuses }),
      (init) => this.runToEnd(record, init),
    );
    if (!initStatuses) return;
    const id = await this.create(record, main);
    if (id === undefined) return;
    const container = this.options.docker.getContainer(id);
    await container.start();
    // Deleted while it started: the removal may have lost the race with the start.
    if (record.deleted) return this.removeContainer(this.containerName(record, main.name));
    this.update(record, "Running", [scheduled, condition("Initialized", "True"), condition("Ready", "True")], {
      initContainerStatuses: initStatuses,
      containerStatuses: [running(main)],
    });
    await container.wait().catch(() => {});
    if (record.deleted) return;
    const state = (await container.inspect().catch(() => undefined))?.State;
    const exitCode = state?.ExitCode ?? 137;
    clearTimeout(record.deadlineTimer);
    const reason = state?.OOMKilled ? "OOMKilled" : exitCode === 0 ? "Completed" : "Error";
    const extra = record.deadlineExceeded ? DEADLINE_EXCEEDED : {};
    this.update(record, exitCode === 0 && !record.deadlineExceeded ? "Succeeded" : "Failed", [scheduled, condition("Ready", "False")], {
      initContainerStatuses: initStatuses,
      containerStatuses: [terminated(main, exitCode, reason)],
      ...extra,
    });
  }

  /** Removes every container of the pod; the pod stops at once (grace period 0). */
  async remove(record: PodRecord): Promise<void> {
    record.deleted = true;
    clearTimeout(record.deadlineTimer);
    await record.creating?.catch(() => {});
    await Promise.all([...record.containers.keys()].map((name) => this.removeContainer(this.containerName(record, name))));
  }

  /** Docker exec or attach on the container, demultiplexed into the sinks. */
  async openStream(record: PodRecord, container: string, request: StreamRequest, sinks: StreamSinks): Promise<PodStream> {
    const target = this.options.docker.getContainer(record.containers.get(container) ?? "");
    let stream: Duplex;
    let exec: Dockerode.Exec | undefined;
    if (request.kind === "exec") {
      exec = await target.exec({
        Cmd: request.command,
        AttachStdin: request.stdin,
        AttachStdout: request.stdout,
        AttachStderr: request.stderr,
        Tty: false,
      });
      stream = (await exec.start({ hijack: true, stdin: request.stdin, Tty: false })) as Duplex;
    } else {
      stream = (await target.attach({
        stream: true,
        stdin: request.stdin,
        stdout: request.stdout,
        stderr: request.stderr,
        hijack: true,
      })) as Duplex;
    }
    const ended = new Promise<void>((resolve) => {
      stream.once("end", resolve);
      stream.once("close", resolve);
      stream.once("error", () => resolve());
    });
    this.options.docker.modem.demuxStream(stream, sinkWriter(sinks.stdout), sinkWriter(sinks.stderr));
    return {
      write: (data) => stream.write(data),
      endInput: () => stream.end(),
      hangUp: () => stream.destroy(),
      finished: ended.then(() => (exec ? exitCodeOf(exec) : 0)),
    };
  }

  /** Names of the Docker containers this double has running or stopped. */
  async leftovers(): Promise<string[]> {
    const found = await this.options.docker.listContainers({
      all: true,
      filters: { label: [`${DOUBLE_INSTANCE_LABEL}=${this.options.instanceId}`] },
    });
    return found.map((container) => container.Names[0]?.replace(/^\//, "") ?? container.Id);
  }

  /** Removes containers whose creation was under way when their pods went. */
  async close(): Promise<void> {
    for (const name of await this.leftovers().catch(() => [])) {
      await this.options.docker
        .getContainer(name)
        .remove({ force: true })
        .catch(() => {});
    }
    const dnsDir = await this.dnsDir?.catch(() => undefined);
    this.dnsDir = undefined;
    this.resolvConfs.clear();
    if (dnsDir) await rm(dnsDir, { recursive: true, force: true });
  }

  /** Force-removes a container; the engine may refuse while it is still starting, so that is retried. */
  private async removeContainer(name: string): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await this.options.docker.getContainer(name).remove({ force: true, v: true });
        return;
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return;
        await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
      }
    }
  }

  /** The Docker name of one of the pod's containers. */
  containerName(record: PodRecord, container: string): string {
    return `k8s-double-${this.options.instanceId.slice(0, 8)}-${record.pod.metadata?.name}-${container}`;
  }

  /**
   * Why the engine cannot run a pod of this RuntimeClass handler, or undefined when it can: `runc` (or
   * none) is the engine's default runtime; any other handler must be a runtime registered with the
   * engine under that name (`runsc`, as scripts/test.d/60-gvisor.sh registers it), as containerd
   * needs a runtime configured for each handler.
   */
  private async handlerProblem(handler: string | undefined): Promise<string | undefined> {
    if (handler === undefined || handler === DEFAULT_HANDLER) return undefined;
    this.runtimes ??= this.options.docker
      .info()
      .then((info: { Runtimes?: Record<string, unknown> }) => Object.keys(info.Runtimes ?? {}))
      .catch(() => []);
    if ((await this.runtimes).includes(handler)) return undefined;
    return `failed to create the pod sandbox: no runtime for "${handler}" is configured (the Docker engine has no runtime of that name)`;
  }

  private async imagePresent(image: string): Promise<boolean> {
    try {
      await this.options.docker.getImage(image).inspect();
      return true;
    } catch {
      return false;
    }
  }

  /** Kills the pod when it has been active longer than `activeDeadlineSeconds`, like the kubelet. */
  private armDeadline(record: PodRecord): void {
    const seconds = record.pod.spec?.activeDeadlineSeconds;
    if (!seconds) return;
    record.deadlineTimer = setTimeout(() => {
      record.deadlineExceeded = true;
      for (const name of record.containers.keys()) {
        this.options.docker
          .getContainer(this.containerName(record, name))
          .kill()
          .catch(() => {});
      }
    }, seconds * 1000);
    record.deadlineTimer.unref();
  }

  private async runToEnd(record: PodRecord, spec: V1Container): Promise<number | undefined> {
    const id = await this.create(record, spec);
    if (id === undefined) return undefined;
    const container = this.options.docker.getContainer(id);
    await container.start();
    if (record.deleted) {
      await this.removeContainer(this.containerName(record, spec.name));
      return undefined;
    }
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    await container.remove({ force: true }).catch(() => {});
    return record.deleted ? undefined : StatusCode;
  }

  /** Creates the Docker container of a pod's container; undefined when the pod was deleted meanwhile. */
  private async create(record: PodRecord, spec: V1Container): Promise<string | undefined> {
    if (record.deleted) return undefined;
    const seccomp = await this.seccompOption(record.pod, spec);
    if (typeof seccomp !== "string" && seccomp !== undefined) {
      // As a kubelet whose runtime cannot load the profile: the pod stays Pending with the reason.
      this.update(record, "Pending", [condition("PodScheduled", "True")], {
        containerStatuses: [waiting(spec, "CreateContainerError", seccomp.error)],
      });
      return undefined;
    }
    const resolvConf = await this.resolvConfFile(record.pod);
    record.containers.set(spec.name, "");
    const name = this.containerName(record, spec.name);
    const creating = this.options.docker.createContainer(dockerSpec(record, spec, name, this.options, seccomp, resolvConf));
    record.creating = creating;
    const created = await creating;
    record.containers.set(spec.name, created.id);
    if (record.deleted) {
      await created.remove({ force: true }).catch(() => {});
      return undefined;
    }
    return created.id;
  }

  /**
   * The host file bound as the container's /etc/resolv.conf when the pod says what it is (`dnsPolicy: None`), as a
   * kubelet writes it; otherwise undefined, and Docker's own stays (on the double's internal network its embedded
   * resolver, which lets a query time out where the pod's nameserver would refuse it at once).
   */
  private async resolvConfFile(pod: V1Pod): Promise<string | undefined> {
    const content = podResolvConf(pod);
    if (content === undefined) return undefined;
    let written = this.resolvConfs.get(content);
    if (!written) {
      this.dnsDir ??= mkdtemp(join(tmpdir(), "k8s-double-dns-"));
      const dir = this.dnsDir;
      written = (async () => {
        const file = join(await dir, `resolv-${createHash("sha256").update(content).digest("hex").slice(0, 16)}.conf`);
        await writeFile(file, content, { mode: 0o644 });
        return file;
      })();
      this.resolvConfs.set(content, written);
    }
    return written;
  }

  /** The engine's security option for the container's seccomp profile; `RuntimeDefault` is the engine's own (no option). */
  private async seccompOption(pod: V1Pod, container: V1Container): Promise<string | undefined | { error: string }> {
    const choice = await containerSeccomp(pod, container, this.options.seccompProfileRoot);
    if (choice.kind === "error") return { error: choice.message };
    if (choice.kind === "runtime-default") return undefined;
    return choice.kind === "unconfined" ? "seccomp=unconfined" : `seccomp=${JSON.stringify(choice.profile)}`;
  }

  private update(record: PodRecord, phase: string, conditions: V1PodCondition[], extra: Record<string, unknown> = {}): void {
    setPodStatus(record, this.options.touch, phase, conditions, extra);
  }
}

/** What Docker is asked to run for one container of a pod. */
function dockerSpec(
  record: PodRecord,
  container: V1Container,
  name: string,
  options: DockerPodsOptions,
  seccomp: string | undefined,
  resolvConf: string | undefined,
): Dockerode.ContainerCreateOptions {
  const { pod, handler } = record;
  const podContext = pod.spec?.securityContext ?? {};
  const context = container.securityContext ?? {};
  const uid = context.runAsUser ?? podContext.runAsUser;
  const gid = context.runAsGroup ?? podContext.runAsGroup ?? uid;
  const limits = container.resources?.limits ?? {};
  const memory = parseQuantity(limits.memory);
  const cpu = parseQuantity(limits.cpu);
  const tmpfs: Record<string, string> = {};
  // Docker gives a tmpfs the mode and owner of the image's directory at its path (it copies it up), where
  // a kubelet's emptyDir is writable by the pod whatever the image holds there: owned by the pod's user.
  const owner = uid !== undefined && uid !== 0 ? `,uid=${uid},gid=${podContext.fsGroup ?? gid}` : "";
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.spec?.volumes?.find((candidate) => candidate.name === mount.name);
    if (!volume?.emptyDir) continue;
    const size = parseQuantity(volume.emptyDir.sizeLimit);
    tmpfs[mount.mountPath] = `rw,exec,nosuid,nodev,mode=1777${size ? `,size=${Math.floor(size)}` : ""}${owner}`;
  }
  return {
    name,
    // As on a cluster, the pod's hostname is its name.
    Hostname: pod.metadata?.name?.slice(0, 63),
    Image: container.image,
    Entrypoint: container.command,
    Cmd: container.args ?? (container.command ? [] : undefined),
    User: uid === undefined ? undefined : `${uid}:${gid}`,
    WorkingDir: container.workingDir,
    Env: (container.env ?? []).map((variable) => `${variable.name}=${variable.value ?? ""}`),
    Labels: {
      ...options.labels,
      [DOUBLE_APP_LABEL.key]: DOUBLE_APP_LABEL.value,
      [DOUBLE_INSTANCE_LABEL]: options.instanceId,
      "code-interpreter-kubernetes-double.pod": `${pod.metadata?.namespace}/${pod.metadata?.name}`,
    },
    OpenStdin: container.stdin === true,
    StdinOnce: container.stdinOnce === true,
    AttachStdin: container.stdin === true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: container.tty === true,
    HostConfig: {
      // A RuntimeClass handler is the engine's runtime of that name (runsc: gVisor), as containerd maps handlers to runtimes.
      ...(handler === undefined || handler === DEFAULT_HANDLER ? {} : { Runtime: handler }),
      NetworkMode: options.network ?? "none",
      ReadonlyRootfs: context.readOnlyRootFilesystem === true,
      CapDrop: context.capabilities?.drop ?? [],
      CapAdd: context.capabilities?.add ?? [],
      SecurityOpt: [...(context.allowPrivilegeEscalation === false ? ["no-new-privileges"] : []), ...(seccomp ? [seccomp] : [])],
      Privileged: context.privileged === true,
      GroupAdd: podContext.fsGroup === undefined ? [] : [String(podContext.fsGroup)],
      Tmpfs: tmpfs,
      ...(resolvConf ? { Binds: [`${resolvConf}:/etc/resolv.conf:ro`] } : {}),
      Memory: memory ? Math.floor(memory) : 0,
      MemorySwap: memory ? Math.floor(memory) : 0,
      NanoCpus: cpu ? Math.round(cpu * 1e9) : 0,
      PidsLimit: options.podPidsLimit,
      LogConfig: { Type: "none", Config: {} },
    },
  };
}

function sinkWriter(sink: (data: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      sink(chunk);
      callback();
    },
  });
}

/** The exec's exit code; Docker may report the stream's end a moment before the exec's. */
async function exitCodeOf(exec: Dockerode.Exec): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const info = await exec.inspect().catch(() => undefined);
    if (!info) return 137;
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return 137;
}
