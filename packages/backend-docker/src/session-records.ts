import type { SessionRecord } from "@code-interpreter/core/engine";
import {
  APP_LABEL,
  COMPONENT_LABEL_KEY,
  EXPIRES_AT_KEY,
  isOfRuntime,
  isSessionId,
  RUNTIME_LABEL_KEY,
  type SandboxRuntime,
  TENANT_KEY,
  WARM_LABEL_KEY,
} from "@code-interpreter/core/sandbox";
import type Dockerode from "dockerode";
import type { ContainerInfo } from "dockerode";
import { KEEPALIVE_AT_KEY, KEEPALIVE_COMPONENT, SESSION_LABEL_KEY } from "./container-spec.js";

/**
 * A session as its containers describe it: `expiresAt` is the newest
 * keepalive record's expiry, else the one the container was created with;
 * `tenant` is the container's label. One whose container has stopped (or is
 * being removed) is `ended`: its tmpfs workspace is gone. One created but not
 * started yet has not ended: its server is starting it.
 */
export interface DockerSession extends SessionRecord {
  containerId: string;
  /** Docker state: `running`, `created`, `exited`, … */
  state: string;
  /** When its container was created (unix seconds; 0 when unknown). */
  createdAt: number;
  /** Keepalive records of this session, by container id. */
  keepalives: string[];
  /** Made ahead of demand for the session pool: a session only once a keepalive record claims it. */
  warm: boolean;
}

/**
 * Docker states of a container that has stopped for good, or soon will.
 * `created` is not among them: a container is in it between its create and
 * its start, which a reaper listing at that moment must not take for ended.
 */
const ENDED_STATES = new Set(["exited", "dead", "removing"]);

/** Everything this service made on the engine, sorted into sessions, orphans and one-shot containers. */
export interface Inventory {
  sessions: Map<string, DockerSession>;
  /** Keepalive records whose session is gone. */
  orphanKeepalives: ContainerInfo[];
  /** Warm session containers no one has claimed (yet): no sessions, removed past their expiry label. */
  unclaimed: DockerSession[];
  execs: ContainerInfo[];
}

/**
 * Lists every container labelled as ours (running or not) in one call, and
 * keeps those of `runtime` (no runtime label: `default`): a backend of the
 * other runtime on the same engine owns the rest.
 */
export async function takeInventory(docker: Dockerode, runtime: SandboxRuntime): Promise<Inventory> {
  const labelled = await docker.listContainers({ all: true, filters: { label: [`${APP_LABEL.key}=${APP_LABEL.value}`] } });
  const containers = labelled.filter((container) => isOfRuntime(container.Labels[RUNTIME_LABEL_KEY], runtime));
  const sessions = new Map<string, DockerSession>();
  const keepalives: ContainerInfo[] = [];
  const execs: ContainerInfo[] = [];
  for (const container of containers) {
    const component = container.Labels[COMPONENT_LABEL_KEY];
    if (component === "exec") execs.push(container);
    else if (component === KEEPALIVE_COMPONENT) keepalives.push(container);
    else if (component === "session") {
      const id = containerName(container);
      if (!id || !isSessionId(id)) continue;
      sessions.set(id, {
        id,
        containerId: container.Id,
        expiresAt: expiry(container),
        state: container.State,
        createdAt: container.Created ?? 0,
        ended: ENDED_STATES.has(container.State),
        keepalives: [],
        tenant: container.Labels[TENANT_KEY],
        warm: container.Labels[WARM_LABEL_KEY] === "true",
      });
    }
  }
  const orphanKeepalives: ContainerInfo[] = [];
  const newest = new Map<string, number>();
  for (const keepalive of keepalives) {
    const session = sessions.get(keepalive.Labels[SESSION_LABEL_KEY] ?? "");
    if (!session) {
      orphanKeepalives.push(keepalive);
      continue;
    }
    session.keepalives.push(keepalive.Id);
    const at = Number(keepalive.Labels[KEEPALIVE_AT_KEY]);
    if (Number.isFinite(at) && at >= (newest.get(session.id) ?? -1)) {
      newest.set(session.id, at);
      session.expiresAt = expiry(keepalive);
      // A claimed warm container was made without a tenant: its records carry it.
      session.tenant = session.tenant ?? keepalive.Labels[TENANT_KEY];
    }
  }
  const unclaimed = [...sessions.values()].filter((session) => session.warm && session.keepalives.length === 0);
  for (const session of unclaimed) sessions.delete(session.id);
  return { sessions, orphanKeepalives, execs, unclaimed };
}

/** The container's name without Docker's leading slash. */
export function containerName(container: ContainerInfo): string | undefined {
  return container.Names[0]?.replace(/^\//, "");
}

/** The `code-interpreter.expires-at` label; a missing or bad one counts as expired. */
export function expiry(container: Pick<ContainerInfo, "Labels">): number {
  const value = Number(container.Labels[EXPIRES_AT_KEY]);
  return Number.isFinite(value) ? value : 0;
}
