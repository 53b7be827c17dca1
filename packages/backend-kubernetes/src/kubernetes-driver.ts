import { PassThrough } from "node:stream";
import type { BackendCapabilities, BackendHealth } from "@code-interpreter/core";
import type {
  CreateSessionSandboxOptions,
  OneShotSandbox,
  PersistentRunnerHandle,
  SandboxDriver,
  StartSandboxOptions,
  StartSessionRunnerOptions,
} from "@code-interpreter/core/engine";
import { claimWarmInit, WARM_ATTACHED_LINE } from "@code-interpreter/core/engine";
import { GVISOR_SYSCALL_POLICY } from "@code-interpreter/core/policy";
import { KERNEL_MARKER, SERVE_MARKER, type SessionRunnerArgvOptions } from "@code-interpreter/core/runner";
import { EXPIRES_AT_KEY, newExecName, TENANT_KEY, unixNow, WARM_LABEL_KEY } from "@code-interpreter/core/sandbox";
import { isNotFound } from "./api-errors.js";
import { executorTermination } from "./container-exit.js";
import { egressRunnerArgv, egressSettingsLine, type PodEgress, podEgress } from "./egress-pod.js";
import { startMarked } from "./kernel-exec.js";
import { KubeApi, type StreamSocket } from "./kube-api.js";
import type { KubernetesBackendSettings } from "./kubernetes-backend-settings.js";
import { podChannel } from "./pod-channel.js";
import { EXECUTOR_CONTAINER, execPodSpec, sessionPodSpec } from "./pod-spec.js";
import { waitForRunning } from "./pod-startup.js";
import { reap } from "./reaper.js";
import { bootstrapArgv, kernelBootstrapArgv, serveBootstrapArgv } from "./runner-bootstrap.js";
import { isClaimed, type KubernetesSession, podIsOfRuntime, SESSION_SELECTOR, sessionRecord } from "./session-records.js";

/**
 * Sandboxes as pods: a one-shot sandbox is a fresh, hardened pod whose main
 * process is the runner, attached once it runs; a session is a long-lived
 * pod (made ahead of demand for the session pool, and claimed) whose command
 * runner and kernel are each one exec kept open. The runner is sent its
 * source first (runner-bootstrap.ts): an exec's command line travels in the
 * URL. All state lives on the pods (names, labels, annotations), so a
 * restarted server or a second replica finds and reaps what another left.
 */
export class KubernetesDriver implements SandboxDriver<KubernetesSession> {
  readonly name = "kubernetes";
  readonly capabilities: BackendCapabilities;
  readonly api: KubeApi;
  /** The attach to each warm session pod's init, by session id, held until its claim (see warmSessionInitArgv). */
  private readonly warmInits = new Map<string, WarmInit>();
  /**
   * How a session's kernel and command runner start: in gVisor pods they load the syscall policy on themselves,
   * since runsc gives the pod's profile to the container's first process only, not to an exec'd one.
   */
  private readonly sessionRunner: SessionRunnerArgvOptions;
  /**
   * Sessions given a way out (issue 22), by id: their kernel and command runner each start the
   * forwarder (the second finds it running). In memory, as the proxy's attachment is.
   */
  private readonly sessionEgress = new Map<string, PodEgress>();

  constructor(readonly settings: KubernetesBackendSettings) {
    this.api = new KubeApi(settings.kubeConfig, settings.namespace, settings.apiTimeoutMs);
    this.sessionRunner = settings.sandboxRuntime === "gvisor" ? { syscallPolicy: GVISOR_SYSCALL_POLICY } : {};
    // A pod cannot be given the proxy's socket: egress only where the proxy listens on an address pods reach.
    const egress = settings.egress?.tcp !== undefined;
    this.capabilities = { sessions: true, statefulPython: true, runtime: settings.sandboxRuntime, egress };
  }

  /**
   * Creates a one-shot pod with the bootstrapped runner as its main process,
   * waits for it to run and attaches to it; deletes it if any of that fails.
   *
   * Attach rather than exec into a sleeping pod: the runner is then alone in
   * its container's pid namespace as pid 1, so after the code it can kill
   * every other process there (`killAll`), exactly as on Docker; and the pod
   * ends by itself when the runner does — also when the server that attached
   * goes away (`stdinOnce`: the runner sees the end of its input).
   *
   * Until a warm pod is used its expiry annotation is its age limit (the
   * engine's `expiresAt`): the reaper takes one an earlier server left soon
   * after, while the kubelet's deadline leaves room for the longest use. The
   * pod's environment is the engine's `env`.
   */
  async start(options: StartSandboxOptions): Promise<OneShotSandbox> {
    const { api } = this;
    const name = options.name ?? newExecName();
    const deadline = unixNow() + options.lifetimeSeconds;
    const egress = podEgress(options.egress);
    // gVisor: the warm runner takes its fork's copy-on-write faults before it is ready (each one costly there).
    const runner = bootstrapArgv("python3", {
      preload: options.preload,
      prefault: this.settings.sandboxRuntime === "gvisor",
      warm: options.warm,
    });
    const spec = execPodSpec(
      this.settings,
      name,
      egress ? egressRunnerArgv(runner, egress) : runner,
      { seconds: options.lifetimeSeconds, at: options.expiresAt },
      { warm: options.warm, env: options.env, ...(egress ? { egress: egress.tcp } : {}) },
    );
    try {
      options.signal?.throwIfAborted();
      await api.createPod(spec);
      await waitForRunning(api, name, this.settings.podStartTimeoutMs, options.signal);
      const channel = await podChannel(
        (streams) => api.attach(name, EXECUTOR_CONTAINER, streams),
        egress ? { afterBootstrap: egressSettingsLine(egress) } : {},
      );
      return {
        name,
        deadline,
        warm: options.warm,
        channel,
        // Nobody waits for more output once it is stopped: hang up, and the pod goes.
        stop: async () => {
          channel.hangUp();
          await api.deletePod(name);
        },
        exit: async () => {
          const terminated = await executorTermination(api, name);
          return { exit: `exit ${terminated?.exitCode ?? "unknown"}`, outOfMemory: terminated?.reason === "OOMKilled" };
        },
        remove: async () => {
          await api.deletePod(name);
        },
      };
    } catch (error) {
      // The name is enough: even a create whose answer was lost is cleaned up.
      await api.deletePod(name).catch(() => {});
      throw error;
    }
  }

  /** A taken warm pod loses its warm label and its expiry moves to the request's end: to the reaper it is an ordinary one-shot pod. */
  async claim(sandbox: OneShotSandbox, expiresAt: number): Promise<void> {
    try {
      await this.api.patchMetadata(sandbox.name, {
        labels: { [WARM_LABEL_KEY]: null },
        annotations: { [EXPIRES_AT_KEY]: String(expiresAt) },
      });
    } catch (error) {
      if (!isNotFound(error)) this.settings.warn(`could not mark the warm pod ${sandbox.name} as taken: ${(error as Error).message}`);
    }
  }

  /**
   * `activeDeadlineSeconds` caps a session's life at sessionMaxLifetimeSeconds
   * (the engine caps its expiry there too). A `warm` pod (session pool) waits labelled warm
   * until its claim or its `expiresAt`; its deadline leaves room for that wait
   * plus a whole session's lifetime, and its claim lowers it.
   */
  async createSession(session: CreateSessionSandboxOptions, signal?: AbortSignal): Promise<KubernetesSession> {
    const warmSeconds = session.warm ? { warmSeconds: session.expiresAt - unixNow() } : {};
    const egress = podEgress(session.egress);
    const spec = sessionPodSpec(this.settings, session.id, session.expiresAt, session.tenant, {
      ...warmSeconds,
      env: session.env,
      ...(egress ? { egress: egress.tcp } : {}),
    });
    await this.api.createPod(spec);
    if (egress) this.sessionEgress.set(session.id, egress);
    try {
      const pod = await waitForRunning(this.api, session.id, this.settings.podStartTimeoutMs, signal);
      const record = sessionRecord(pod);
      if (!record) throw new Error(`the session pod ${session.id} lost its labels`);
      if (session.warm) this.warmInits.set(session.id, await attachInit(this.api, session.id));
      return record;
    } catch (error) {
      this.hangUpInit(session.id);
      this.sessionEgress.delete(session.id);
      await this.api.deletePod(session.id).catch(() => {});
      throw error;
    }
  }

  /**
   * Makes a warm session pod the session, in one patch: the warm label goes,
   * the expiry and tenant annotations are set (on the pod object, which code
   * inside it cannot reach: it has no service account token), and
   * activeDeadlineSeconds comes down to a session's whole lifetime from now.
   * (The engine takes no warm pod too near its warm expiry, and caps the
   * session's expiry at its lifetime.)
   */
  async claimSession(session: KubernetesSession, claim: { expiresAt: number; tenant?: string }): Promise<KubernetesSession> {
    const init = this.warmInits.get(session.id);
    try {
      if (!init) throw new Error("this server holds no connection to its init");
      const [record] = await Promise.all([
        this.claimPod(session, claim),
        claimWarmInit((data) => void init.stdin.write(data), init.output),
      ]);
      return record;
    } finally {
      this.hangUpInit(session.id);
    }
  }

  private async claimPod(session: KubernetesSession, claim: { expiresAt: number; tenant?: string }): Promise<KubernetesSession> {
    const latest = unixNow() + this.settings.sessionMaxLifetimeSeconds;
    const deadline = Math.ceil(latest - session.startedAt);
    const lower = deadline < session.latestExpiry - session.startedAt ? { activeDeadlineSeconds: deadline } : undefined;
    const pod = await this.api.patchMetadata(
      session.id,
      {
        labels: { [WARM_LABEL_KEY]: null },
        annotations: {
          [EXPIRES_AT_KEY]: String(claim.expiresAt),
          ...(claim.tenant === undefined ? {} : { [TENANT_KEY]: claim.tenant }),
        },
      },
      lower,
    );
    const record = sessionRecord(pod);
    if (!isClaimed(record)) throw new Error(`the session pod ${session.id} lost its labels`);
    return record;
  }

  /** The exact name, with our labels, of our runtime and claimed; anything else is not one of our sessions. */
  async findSession(id: string): Promise<KubernetesSession | undefined> {
    const pod = await this.api.readPod(id);
    const record = pod && podIsOfRuntime(pod, this.settings.sandboxRuntime) ? sessionRecord(pod) : undefined;
    return isClaimed(record) ? record : undefined;
  }

  async listSessions(): Promise<KubernetesSession[]> {
    // Filtered here, not by selector: a pod without the runtime label is `default`'s, which `!=` cannot say alone.
    const pods = (await this.api.listPods(SESSION_SELECTOR)).filter((pod) => podIsOfRuntime(pod, this.settings.sandboxRuntime));
    return pods.map((pod) => sessionRecord(pod)).filter(isClaimed);
  }

  /**
   * Moves the expiry annotation. The kubelet still stops the pod at its
   * `activeDeadlineSeconds` (which cannot be raised on a running pod), so the
   * new expiry is capped there and the answer says so.
   */
  async extendSession(session: KubernetesSession, expiresAt: number): Promise<number> {
    const capped = Math.min(expiresAt, session.latestExpiry);
    await this.api.patchAnnotations(session.id, { [EXPIRES_AT_KEY]: String(capped) });
    return capped;
  }

  removeSession(session: KubernetesSession): Promise<boolean> {
    this.hangUpInit(session.id);
    this.sessionEgress.delete(session.id);
    return this.api.deletePod(session.id);
  }

  /** The kernel runs with the pod's environment (an exec cannot set one): the engine's, given at its creation. */
  async startKernel(session: KubernetesSession, options: StartSessionRunnerOptions): Promise<PersistentRunnerHandle> {
    await this.running(session);
    return this.startSessionRunner(session.id, kernelBootstrapArgv("python3", options.limits, this.sessionRunner), KERNEL_MARKER);
  }

  /**
   * The command runner, by exec, kept open like the kernel: a command is a
   * write and a read. It lives as long as the session's pod (whose pids limit
   * bounds what its commands leave running), and is killed by its marker.
   */
  async startCommandRunner(session: KubernetesSession): Promise<PersistentRunnerHandle> {
    await this.running(session);
    return this.startSessionRunner(session.id, serveBootstrapArgv("python3", this.sessionRunner), SERVE_MARKER);
  }

  /** A session's kernel or command runner, starting the egress forwarder first when the session has a way out. */
  private startSessionRunner(id: string, argv: string[], marker: string): Promise<PersistentRunnerHandle> {
    const egress = this.sessionEgress.get(id);
    if (!egress) return startMarked(this.api, id, argv, marker);
    return startMarked(this.api, id, egressRunnerArgv(argv, egress), marker, egressSettingsLine(egress));
  }

  async reap(now: number, beforeRemove: (sessionId: string) => Promise<void>): Promise<string[]> {
    const removed = await reap(this.api, this.settings.sandboxRuntime, this.settings.warn, now, beforeRemove);
    for (const id of removed) this.sessionEgress.delete(id);
    return removed;
  }

  /**
   * The API answers and pods can be listed in the namespace; otherwise what
   * to do about it (the API's address, the Role, the namespace).
   */
  async health(): Promise<BackendHealth> {
    try {
      await this.api.listPods(SESSION_SELECTOR);
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: `cannot list pods in the namespace ${this.settings.namespace}: ${(error as Error).message}` };
    }
  }

  /** Closes the attach to a warm session pod's init: unclaimed, it ends, and its pod with it. */
  private hangUpInit(sessionId: string): void {
    const init = this.warmInits.get(sessionId);
    this.warmInits.delete(sessionId);
    init?.stdin.destroy();
    init?.socket.terminate();
  }

  /** A session pod still starting (Pending) is waited for. */
  private async running(session: KubernetesSession): Promise<void> {
    if (session.phase !== "Running") await waitForRunning(this.api, session.id, this.settings.podStartTimeoutMs);
  }
}

/** An attach to a warm session pod's init: its stdin, and its answers on `output`. */
interface WarmInit {
  stdin: PassThrough;
  output: PassThrough;
  socket: StreamSocket;
}

/** Attaches to a running warm session pod's init (`stdinOnce`: when this attach closes, its stdin ends). */
async function attachInit(api: KubeApi, name: string): Promise<WarmInit> {
  const stdin = new PassThrough();
  const output = new PassThrough();
  try {
    const socket = await api.attach(name, EXECUTOR_CONTAINER, { stdin, stdout: output, stderr: new PassThrough().resume() });
    stdin.write(WARM_ATTACHED_LINE);
    output.resume();
    const end = () => output.destroy();
    if (socket.readyState === socket.CLOSED) end();
    socket.once("close", end);
    socket.once("error", end);
    return { stdin, output, socket };
  } catch (error) {
    stdin.destroy();
    throw error;
  }
}
