import {
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  type BackendCapabilities,
  type BackendHealth,
  type CommandResult,
  type CreateSessionOptions,
  type ExecuteOptions,
  type ExecutionResult,
  InvalidRequestError,
  LANGUAGES,
  type NetworkPolicy,
  NotSupportedError,
  type PausedSessionInfo,
  type SessionCommandOptions,
  type SessionInfo,
  type SessionLifetimeOptions,
  SessionNotFoundError,
  type WorkspaceFileContent,
  type WorkspaceFileSink,
} from "@code-interpreter/core";
import type { SandboxRuntime } from "@code-interpreter/core/sandbox";

/** Session ids whose runtime is remembered (a session never changes runtime); bounded so it cannot grow without end. */
const SESSION_CACHE_SIZE = 10_000;

/** The runtimes a server offers: what requests may ask for, and what they get when they name none. */
export interface RuntimeOffer {
  /** SANDBOX_RUNTIMES, in the operator's order. */
  runtimes: readonly SandboxRuntime[];
  /** SANDBOX_RUNTIME. */
  defaultRuntime: SandboxRuntime;
}

/**
 * One Backend in front of one backend per sandbox runtime, all of one kind
 * (local, docker or kubernetes). Executions and new sessions go to the
 * runtime they ask for (the default runtime when they name none); a
 * session's later operations go to the backend that has it, found by asking
 * them (each sees only its own runtime's sandboxes), so any replica finds
 * it. Listing, reaping, health and close cover them all.
 */
export class RuntimeRouter implements Backend, RuntimeOffer {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly runtimes: readonly SandboxRuntime[];
  private readonly sessionRuntimes = new Map<string, SandboxRuntime>();

  constructor(
    readonly backends: ReadonlyMap<SandboxRuntime, Backend>,
    readonly defaultRuntime: SandboxRuntime,
  ) {
    const first = backends.get(defaultRuntime);
    if (!first) throw new Error(`RuntimeRouter: no backend for the default runtime ${defaultRuntime}`);
    this.runtimes = [...backends.keys()];
    const all = [...backends.values()];
    this.name = first.name;
    this.capabilities = {
      sessions: all.every((backend) => backend.capabilities.sessions),
      statefulPython: all.every((backend) => backend.capabilities.statefulPython === true),
      languages: LANGUAGES.filter((language) => all.every((backend) => (backend.capabilities.languages ?? LANGUAGES).includes(language))),
      runtime: defaultRuntime,
      ...(all.every((backend) => backend.capabilities.egress === true) ? { egress: true } : {}),
    };
  }

  /** The backend of `runtime` (the default one when undefined); 422 naming the offered runtimes for another. */
  backendFor(runtime: SandboxRuntime | undefined): Backend {
    const backend = this.backends.get(runtime ?? this.defaultRuntime);
    if (!backend) throw notOffered(runtime as string, this);
    return backend;
  }

  execute(options: ExecuteOptions): Promise<ExecutionResult> {
    return this.backendFor(options.runtime).execute(options);
  }

  async createSession(options: CreateSessionOptions): Promise<SessionInfo> {
    const runtime = options.runtime ?? this.defaultRuntime;
    const session = await this.backendFor(runtime).createSession(options);
    this.remember(session.id, runtime);
    return { ...session, runtime };
  }

  async getSession(sessionId: string): Promise<SessionInfo> {
    return (await this.find(sessionId)).session;
  }

  async listSessions(): Promise<SessionInfo[]> {
    const lists = await Promise.all(
      [...this.backends].map(async ([runtime, backend]) =>
        backend.capabilities.sessions ? (await backend.listSessions()).map((session) => ({ ...session, runtime })) : [],
      ),
    );
    return lists.flat();
  }

  async extendSession(sessionId: string, ttlSeconds: number): Promise<SessionInfo> {
    const { backend, runtime } = await this.owner(sessionId);
    return { ...(await backend.extendSession(sessionId, ttlSeconds)), runtime };
  }

  async deleteSession(sessionId: string): Promise<void> {
    const { backend } = await this.owner(sessionId);
    await backend.deleteSession(sessionId);
    this.sessionRuntimes.delete(sessionId);
  }

  async updateSessionNetwork(sessionId: string, policy: NetworkPolicy): Promise<SessionInfo> {
    const { backend, runtime } = await this.owner(sessionId);
    if (!backend.updateSessionNetwork) throw new NotSupportedError({ message: `the ${this.name} backend offers no network egress` });
    return { ...(await backend.updateSessionNetwork(sessionId, policy)), runtime };
  }

  async pauseSession(sessionId: string): Promise<PausedSessionInfo> {
    const { backend, runtime } = await this.owner(sessionId);
    if (!backend.pauseSession) throw noSnapshots(this.name);
    return { ...(await backend.pauseSession(sessionId)), runtime };
  }

  async resumeSession(sessionId: string, options: SessionLifetimeOptions): Promise<SessionInfo> {
    const { backend, runtime } = await this.owner(sessionId);
    if (!backend.resumeSession) throw noSnapshots(this.name);
    return { ...(await backend.resumeSession(sessionId, options)), runtime };
  }

  /** The fork runs on its source's runtime. */
  async forkSession(sessionId: string, options: SessionLifetimeOptions): Promise<SessionInfo> {
    const { backend, runtime } = await this.owner(sessionId);
    if (!backend.forkSession) throw noSnapshots(this.name);
    const fork = await backend.forkSession(sessionId, options);
    this.remember(fork.id, runtime);
    return { ...fork, runtime };
  }

  async runInSession(options: SessionCommandOptions): Promise<CommandResult> {
    return (await this.owner(options.sessionId)).backend.runInSession(options);
  }

  async readSessionFiles(sessionId: string, options?: { onFile?: WorkspaceFileSink }): Promise<WorkspaceFileContent[]> {
    return (await this.owner(sessionId)).backend.readSessionFiles(sessionId, options);
  }

  /** Healthy when every runtime's backend is; otherwise the details of those that are not, each named by its runtime. */
  async health(): Promise<BackendHealth> {
    const answers = await Promise.all(
      [...this.backends].map(async ([runtime, backend]) => {
        try {
          return { runtime, health: (await backend.health?.()) ?? { ok: true } };
        } catch (error) {
          return { runtime, health: { ok: false, detail: (error as Error).message } };
        }
      }),
    );
    const failing = answers.filter((answer) => !answer.health.ok);
    if (failing.length === 0) return { ok: true };
    if (this.backends.size === 1) return (failing[0] as (typeof failing)[number]).health;
    return { ok: false, detail: failing.map(({ runtime, health }) => `runtime ${runtime}: ${health.detail ?? "not ready"}`).join("; ") };
  }

  async reapExpiredSessions(): Promise<string[]> {
    const reaped = await Promise.all([...this.backends.values()].map((backend) => backend.reapExpiredSessions()));
    for (const sessionId of reaped.flat()) this.sessionRuntimes.delete(sessionId);
    return reaped.flat();
  }

  async close(): Promise<void> {
    const closed = await Promise.allSettled([...this.backends.values()].map((backend) => backend.close()));
    const failed = closed.find((outcome) => outcome.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** The backend that has the session (the remembered one first), and its runtime. */
  private async owner(sessionId: string): Promise<{ backend: Backend; runtime: SandboxRuntime }> {
    const known = this.sessionRuntimes.get(sessionId);
    const backend = known && this.backends.get(known);
    if (known && backend) return { backend, runtime: known };
    return this.find(sessionId);
  }

  /**
   * Asks every runtime's backend for the session. Not found anywhere is
   * SessionNotFoundError; a backend that could not answer (unreachable)
   * while none had it is that backend's error, not a 404.
   */
  private async find(sessionId: string): Promise<{ backend: Backend; runtime: SandboxRuntime; session: SessionInfo }> {
    const answers = await Promise.allSettled(
      [...this.backends].map(async ([runtime, backend]) => ({ backend, runtime, session: await backend.getSession(sessionId) })),
    );
    for (const answer of answers) {
      if (answer.status === "fulfilled") {
        const { backend, runtime, session } = answer.value;
        this.remember(sessionId, runtime);
        return { backend, runtime, session: { ...session, runtime } };
      }
    }
    const failure = answers.find(
      (answer): answer is PromiseRejectedResult => answer.status === "rejected" && !SessionNotFoundError.isInstance(answer.reason),
    );
    if (failure) throw failure.reason;
    throw (answers[0] as PromiseRejectedResult).reason;
  }

  private remember(sessionId: string, runtime: SandboxRuntime): void {
    if (this.sessionRuntimes.size >= SESSION_CACHE_SIZE) this.sessionRuntimes.delete(this.sessionRuntimes.keys().next().value as string);
    this.sessionRuntimes.set(sessionId, runtime);
  }
}

function noSnapshots(name: string): NotSupportedError {
  return new NotSupportedError({ message: `the ${name} backend keeps no session snapshots: sessions cannot be paused, resumed or forked` });
}

/** The 422 of a request for a runtime the server does not offer. */
export function notOffered(runtime: string, offer: RuntimeOffer): InvalidRequestError {
  return new InvalidRequestError({
    message: `runtime ${JSON.stringify(runtime)} is not offered by this server; it offers: ${offer.runtimes.join(", ")} (SANDBOX_RUNTIMES; default ${offer.defaultRuntime})`,
  });
}

/** What `backend` offers: a router's runtimes, or a single backend's own runtime. */
export function runtimeOffer(backend: Backend): RuntimeOffer {
  if (backend instanceof RuntimeRouter) return { runtimes: backend.runtimes, defaultRuntime: backend.defaultRuntime };
  const runtime = backend.capabilities.runtime ?? "default";
  return { runtimes: [runtime], defaultRuntime: runtime };
}
