import { type Duplex, PassThrough } from "node:stream";
import {
  type BackendCapabilities,
  type BackendHealth,
  BackendUnavailableError,
  EGRESS_SANDBOX_PORT,
  InvalidRequestError,
} from "@code-interpreter/core";
import type {
  CreateSessionSandboxOptions,
  OneShotSandbox,
  PersistentRunnerHandle,
  SandboxDriver,
  SandboxEgress,
  StartSandboxOptions,
  StartSessionRunnerOptions,
} from "@code-interpreter/core/engine";
import { claimWarmInit, WARM_ATTACHED_LINE } from "@code-interpreter/core/engine";
import { GVISOR_SYSCALL_POLICY } from "@code-interpreter/core/policy";
import {
  KERNEL_MARKER,
  kernelArgv,
  runnerArgv,
  SERVE_MARKER,
  type SessionRunnerArgvOptions,
  serveArgv,
  withEgressForwarder,
} from "@code-interpreter/core/runner";
import { newExecName, unixNow } from "@code-interpreter/core/sandbox";
import type Dockerode from "dockerode";
import { EGRESS_SOCKET_PATH, execContainerSpec, keepaliveContainerSpec, sessionContainerSpec } from "./container-spec.js";
import { type DockerBackendSettings, GVISOR_OCI_RUNTIME, ociRuntime } from "./docker-backend-settings.js";
import { streamChannel } from "./docker-channel.js";
import { engineAddress, engineMessage, toBackendError } from "./engine-errors.js";
import { execExitReport } from "./exec-report.js";
import { execAttached, killMarked } from "./kernel-exec.js";
import { probeDocker } from "./probe-docker.js";
import { reap, removeContainer, removeSession } from "./reaper.js";
import { ReusedContainers } from "./reused-containers.js";
import { type DockerSession, takeInventory } from "./session-records.js";

/**
 * Sandboxes on a Docker Engine: a one-shot sandbox is a fresh, hardened
 * container whose main process is the runner, attached before it starts; a
 * session is a long-lived container that runners and the kernel reach by
 * exec. All state lives on the containers (names and labels; a keepalive
 * record carries a moved expiry, since labels cannot change), so a restarted
 * server or a second replica finds and reaps what another left.
 */
export class DockerDriver implements SandboxDriver<DockerSession> {
  readonly name = "docker";
  readonly capabilities: BackendCapabilities;
  private readonly user: string;
  /** The attach to each warm session container's init, by session id, held until its claim (see warmSessionInitArgv). */
  private readonly warmInits = new Map<string, { stream: Duplex; output: PassThrough }>();
  /**
   * How a session's kernel and command runner start: under gVisor they load the syscall policy on themselves, since
   * runsc gives the container's profile to its first process only, not to an exec'd one (runc gives it to both).
   */
  private readonly sessionRunner: SessionRunnerArgvOptions;
  /** Whether containers run under runsc (gVisor). */
  private readonly gvisor: boolean;
  /** Why sandboxes cannot be given a way out here (issue 22), or undefined when they can (see dockerEgressRefusal). */
  readonly egressRefusal: string | undefined;
  /** Pooled one-shot containers (`oneShotReuse`), when on. */
  private readonly reused: ReusedContainers | undefined;

  constructor(
    readonly settings: DockerBackendSettings,
    engine: DockerEngineFacts = {},
  ) {
    this.user = `${settings.sandboxUid}:${settings.sandboxUid}`;
    this.gvisor = ociRuntime(settings) === GVISOR_OCI_RUNTIME;
    this.sessionRunner = this.gvisor ? { syscallPolicy: GVISOR_SYSCALL_POLICY } : {};
    this.egressRefusal = dockerEgressRefusal(settings, engine.runtimeArgs);
    this.capabilities = {
      sessions: true,
      statefulPython: true,
      runtime: settings.sandboxRuntime,
      egress: this.egressRefusal === undefined,
    };
    if (settings.oneShotReuse && this.gvisor)
      settings.warn("DOCKER_ONESHOT_REUSE is ignored under gVisor: each execution gets its own container");
    // The engine's warm pool holds some, requests in flight the rest.
    const pooled = settings.pool ? settings.pool.max : 0;
    this.reused =
      settings.oneShotReuse && !this.gvisor ? new ReusedContainers(settings, pooled + REUSED_CONTAINERS_BEYOND_POOL) : undefined;
    // Said at start-up, not only to the first request with `network`: the operator configured a proxy this backend cannot use.
    if (settings.egress && this.egressRefusal) settings.warn(`network egress is not offered by the docker backend: ${this.egressRefusal}`);
  }

  async start(options: StartSandboxOptions): Promise<OneShotSandbox> {
    const { docker } = this.settings;
    const egressDir = this.checkEgress(options.egress, options.warm);
    // A sandbox with a way out gets its own container: its egress directory is bound into that one.
    if (this.reused && !egressDir) return this.reused.start(options);
    const name = options.name ?? newExecName();
    const deadline = unixNow() + options.lifetimeSeconds;
    try {
      // gVisor: the warm runner takes its fork's copy-on-write faults before it is ready (each one costly there).
      let runner = runnerArgv("python3", { preload: options.preload, prefault: this.gvisor });
      // The forwarder listens before the runner reads its request: the code finds its way out from the first line.
      if (egressDir) runner = withEgressForwarder(runner, EGRESS_SOCKET_PATH, EGRESS_SANDBOX_PORT);
      const spec = execContainerSpec(this.settings, name, runner, deadline, { env: options.env, warm: options.warm, egressDir });
      const container = await docker.createContainer(spec);
      // Attach before start, so no output is missed and stdin is there when the runner reads it.
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
      await container.start();
      return {
        name,
        deadline,
        warm: options.warm,
        channel: streamChannel(docker, stream),
        stop: async () => {
          await container.kill();
        },
        exit: async () => {
          const state = (await container.inspect()).State;
          return { exit: `exit ${state.ExitCode}`, outOfMemory: state.OOMKilled };
        },
        // The name is enough: even a create whose answer was lost is cleaned up.
        remove: () => removeContainer(docker, name),
      };
    } catch (error) {
      await removeContainer(docker, name).catch(() => {});
      throw egressMountError(error, egressDir);
    }
  }

  async createSession(session: CreateSessionSandboxOptions): Promise<DockerSession> {
    const { docker } = this.settings;
    const { id, expiresAt, tenant, warm = false } = session;
    const egressDir = this.checkEgress(session.egress, warm);
    const container = await docker
      .createContainer(sessionContainerSpec(this.settings, id, expiresAt, tenant, warm, egressDir))
      .catch((error: unknown) => {
        throw egressMountError(error, egressDir);
      });
    try {
      // Attached before start, like a one-shot container: its init then watches this connection from the first moment.
      if (warm) this.warmInits.set(id, await attachInit(docker, container));
      await container.start();
      this.warmInits.get(id)?.stream.write(WARM_ATTACHED_LINE);
    } catch (error) {
      this.hangUpInit(id);
      await removeContainer(docker, container.id).catch(() => {});
      throw error;
    }
    return { id, expiresAt, tenant, warm, containerId: container.id, state: "running", createdAt: unixNow(), ended: false, keepalives: [] };
  }

  /** The first keepalive record of a warm session container claims it, with the session's expiry and tenant. */
  /**
   * Its init takes the claim too (and from then on outlives its server, as
   * sessions do); the attach to it is then closed.
   */
  async claimSession(session: DockerSession, claim: { expiresAt: number; tenant?: string }): Promise<DockerSession> {
    const init = this.warmInits.get(session.id);
    try {
      if (!init) throw new Error("this server holds no connection to its init");
      const [record] = await Promise.all([
        this.settings.docker.createContainer(keepaliveContainerSpec(this.settings, session.id, claim.expiresAt, claim.tenant)),
        claimWarmInit((data) => void init.stream.write(data), init.output),
      ]);
      return { ...session, ...claim, keepalives: [record.id] };
    } finally {
      this.hangUpInit(session.id);
    }
  }

  async findSession(id: string): Promise<DockerSession | undefined> {
    return (await takeInventory(this.settings.docker, this.settings.sandboxRuntime)).sessions.get(id);
  }

  async listSessions(): Promise<DockerSession[]> {
    return [...(await takeInventory(this.settings.docker, this.settings.sandboxRuntime)).sessions.values()];
  }

  /** Labels cannot change, so the new expiry goes on a keepalive record; older records are removed. */
  async extendSession(session: DockerSession, expiresAt: number): Promise<number> {
    const { docker } = this.settings;
    await docker.createContainer(keepaliveContainerSpec(this.settings, session.id, expiresAt, session.tenant));
    await Promise.all(session.keepalives.map((id) => removeContainer(docker, id).catch(() => {})));
    return expiresAt;
  }

  async removeSession(session: DockerSession): Promise<boolean> {
    this.hangUpInit(session.id);
    await removeSession(this.settings.docker, session);
    return true;
  }

  /**
   * The kernel runs by exec and keeps its stream open: each cell is a write
   * and a read, with no exec of its own. It ends when the stream closes (a
   * server that goes away takes its kernels with it; the files stay).
   */
  async startKernel(session: DockerSession, options: StartSessionRunnerOptions): Promise<PersistentRunnerHandle> {
    const { docker } = this.settings;
    const argv = kernelArgv("python3", options.limits, this.sessionRunner);
    const { channel } = await execAttached(docker, session.containerId, this.user, argv, options.env);
    return { channel, kill: () => killMarked(docker, session.containerId, this.user, KERNEL_MARKER) };
  }

  /** The command runner runs by exec and keeps its stream open, like the kernel: a command is a write and a read. */
  async startCommandRunner(session: DockerSession): Promise<PersistentRunnerHandle> {
    const { docker } = this.settings;
    const { exec, channel } = await execAttached(docker, session.containerId, this.user, serveArgv("python3", this.sessionRunner));
    return {
      channel,
      kill: () => killMarked(docker, session.containerId, this.user, SERVE_MARKER),
      exitReport: () => execExitReport(docker, exec, session.containerId),
    };
  }

  reap(now: number, beforeRemove: (sessionId: string) => Promise<void>): Promise<string[]> {
    return reap(this.settings.docker, this.settings.sandboxRuntime, this.settings.warn, now, beforeRemove);
  }

  /** The engine answers and the executor image is there; otherwise what to do about it. */
  async health(): Promise<BackendHealth> {
    const probe = await probeDocker(this.settings);
    return probe.ok ? { ok: true } : { ok: false, detail: probe.reason };
  }

  translateError(error: unknown): unknown {
    return toBackendError(error, this.settings.docker, this.settings.image, ociRuntime(this.settings));
  }

  /** Removes the pooled one-shot containers (the engine has stopped its work). */
  async close(): Promise<void> {
    await this.reused?.close();
  }

  /** The egress directory to bind, if any; refuses one where it cannot be bound, or for a warm sandbox (pools never get one). */
  private checkEgress(egress: SandboxEgress | undefined, warm: boolean): string | undefined {
    if (!egress) return undefined;
    if (this.egressRefusal)
      throw new InvalidRequestError({ message: `network egress is not offered by the docker backend: ${this.egressRefusal}` });
    if (warm) throw new Error("a warm sandbox is never given a way out: sandboxes with `network` are made cold");
    return egress.hostDirectory;
  }

  /** Closes the attach to a warm session's init: unclaimed, it ends, and its container stops. */
  private hangUpInit(sessionId: string): void {
    this.warmInits.get(sessionId)?.stream.destroy();
    this.warmInits.delete(sessionId);
  }
}

/** Pooled one-shot containers beyond the warm pool's size: those serving requests while the pool refills. */
export const REUSED_CONTAINERS_BEYOND_POOL = 2;

/** Attaches to a (created) warm session container's init: its stdin, and its answers on `output`. */
async function attachInit(docker: Dockerode, container: Dockerode.Container): Promise<{ stream: Duplex; output: PassThrough }> {
  const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
  const output = new PassThrough();
  docker.modem.demuxStream(stream, output, new PassThrough().resume());
  output.resume();
  const end = () => output.destroy();
  stream.once("end", end);
  stream.once("close", end);
  stream.once("error", end);
  return { stream, output };
}

/** What the backend learnt from the engine at start-up (createDockerBackend's probe). */
export interface DockerEngineFacts {
  /** The arguments the OCI runtime in use is registered with (gVisor's), when one is named. */
  readonly runtimeArgs?: readonly string[];
}

/** OCI runtimes that run containers on the host's kernel, as runc does: a bound host Unix socket works in them. */
const RUNC_LIKE_RUNTIMES = new Set(["runc", "crun"]);
/** runsc's arguments that let a sandbox connect to a host Unix socket bound into it (`all` also lets it create one). */
const HOST_UDS_ARGS = ["--host-uds=open", "--host-uds=all"];

/**
 * Why this backend cannot give its sandboxes a way out (issue 22), or
 * undefined when it can. The proxy's directory (a Unix socket) is bound into
 * each container from this server's filesystem, so the engine must share it:
 * an engine reached over TCP or SSH is on another machine. Under gVisor the
 * runtime must be registered with `--host-uds=open` (`runtimeArgs`, from the
 * engine) to connect to a bound host socket; a VM runtime (Kata) cannot. And a sandbox network other than `none`
 * would be a way around the proxy.
 */
export function dockerEgressRefusal(
  settings: Pick<DockerBackendSettings, "docker" | "network" | "runtime" | "sandboxRuntime">,
  runtimeArgs: readonly string[] = [],
): string | undefined {
  // A socket path (or docker-modem's finder of the default one): the engine is on this host; a host and port: it is not.
  const modem = settings.docker.modem as { socketPath?: unknown };
  if (!modem.socketPath) {
    return `the Docker engine at ${engineAddress(settings.docker)} is remote (DOCKER_HOST), and the egress proxy's socket can only be bound from this server's own filesystem; use an engine on this host's socket`;
  }
  const runtime = ociRuntime(settings);
  if (runtime && settings.sandboxRuntime === "gvisor" && !HOST_UDS_ARGS.some((arg) => runtimeArgs.includes(arg))) {
    return (
      `its gVisor runtime (${runtime}) is registered without --host-uds=open, so it cannot connect to the proxy's socket bound from the host; ` +
      `add "--host-uds=open" to its "runtimeArgs" in /etc/docker/daemon.json (scripts/test.d/60-gvisor.sh shows how) and have the engine reload it (SIGHUP dockerd), or use the default runtime for requests with \`network\``
    );
  }
  if (runtime && settings.sandboxRuntime !== "gvisor" && !RUNC_LIKE_RUNTIMES.has(runtime)) {
    // A host Unix socket does not cross a VM's boundary (Kata), nor runtimes we do not know.
    return `its runtime ${runtime} (PYTHON_EXECUTOR_DOCKER_RUNTIME) cannot connect to the proxy's socket bound from the host; use runc for requests with \`network\``;
  }
  if (settings.network !== "none") {
    return `its sandboxes have the Docker network ${settings.network} (PYTHON_EXECUTOR_DOCKER_NETWORK), a way around the proxy; set it to none to offer egress`;
  }
  return undefined;
}

/**
 * The engine's refusal to bind a sandbox's egress directory, explained: the
 * engine resolves the path on its own host, so a server in a container must
 * have its EGRESS_STATE_DIR bind-mounted at the same path. Other errors as they are.
 */
export function egressMountError(error: unknown, egressDir: string | undefined): unknown {
  if (!egressDir || !engineMessage(error).includes(egressDir)) return error;
  return new BackendUnavailableError({
    message:
      `the Docker engine cannot bind the sandbox's egress directory ${egressDir} (${engineMessage(error)}): the engine looks for it on its own host. ` +
      "When the server runs in a container, bind-mount EGRESS_STATE_DIR from the host at the same path (-v /srv/egress:/srv/egress -e EGRESS_STATE_DIR=/srv/egress)",
    cause: error,
  });
}
