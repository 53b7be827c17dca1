import { BackendUnavailableError, SessionNotFoundError } from "@code-interpreter/core";
import { killByMarkerArgv, WARM_CREATED_GRACE_SECONDS } from "@code-interpreter/core/engine";
import { SERVE_MARKER } from "@code-interpreter/core/runner";
import { newExecName, newSessionId, unixNow } from "@code-interpreter/core/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionContainerSpec } from "../src/container-spec.js";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { reap, removeUnstarted } from "../src/reaper.js";
import { containersLabelled, docker, dockerAvailable, fileLabels, image, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
const notFound = (error: unknown) => SessionNotFoundError.isInstance(error);

/** Whether a container of that name or id still exists. */
async function exists(name: string): Promise<boolean> {
  try {
    await docker.getContainer(name).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

/** A container made directly on the engine, as another (earlier) server or someone else would. */
async function foreignContainer(name: string, containerLabels: Record<string, string>) {
  const container = await docker.createContainer({
    name,
    Image: image,
    Cmd: ["sleep", "infinity"],
    Labels: containerLabels,
    HostConfig: { NetworkMode: "none", ReadonlyRootfs: true, CapDrop: ["ALL"], LogConfig: { Type: "none", Config: {} } },
  });
  await container.start();
  return container;
}

describe.skipIf(!(await dockerAvailable()))("docker sessions", { timeout: 60_000 }, () => {
  let backend: DockerBackend;
  beforeAll(async () => {
    backend = await createDockerBackend(testSettings(labels));
  });
  afterAll(async () => {
    await backend?.close();
    await removeLabelled(labels);
  });

  it("reaps an expired session container an earlier server left", async () => {
    const id = newSessionId();
    const expired = { ...labels, app: "code-interpreter", component: "session", "code-interpreter.expires-at": String(unixNow() - 10) };
    await foreignContainer(id, expired);
    try {
      expect((await backend.listSessions()).map((session) => session.id)).toContain(id);
      await backend.reapExpiredSessions();
      expect(await exists(id)).toBe(false);
    } finally {
      await docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => {});
    }
  });

  it("lets two replicas' reapers remove the same expired sessions at once, both without a failure", async () => {
    const warnings: string[] = [];
    const other = await createDockerBackend({ ...testSettings(labels), warn: (message) => warnings.push(message) });
    const mine = await createDockerBackend({ ...testSettings(labels), warn: (message) => warnings.push(message) });
    const expired = { ...labels, app: "code-interpreter", component: "session", "code-interpreter.expires-at": String(unixNow() - 10) };
    const ids = [newSessionId(), newSessionId(), newSessionId()];
    try {
      for (const id of ids) await foreignContainer(id, expired);
      // Each may find a container the other is already removing (404, or 409 "removal in progress"): that is done, not failed.
      const [fromOther, fromMine] = await Promise.all([other.reapExpiredSessions(), mine.reapExpiredSessions()]);
      expect([...fromOther, ...fromMine]).toEqual(expect.arrayContaining(ids));
      for (const id of ids) expect(await exists(id)).toBe(false);
      expect(warnings).toEqual([]);
    } finally {
      await Promise.all([other.close(), mine.close()]);
      for (const id of ids) {
        await docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => {});
      }
    }
  });

  // Between a session container's create and its start, Docker lists it as `created`. A reaper that took that for
  // "ended" removed warm session containers as the pool made them, and new sessions under their first command
  // ("was deleted while the command ran", 404; or 503 "its runner ended").
  it("leaves session containers that are created but not started yet to the server starting them", async () => {
    const expiresAt = unixNow() + 300;
    const starting = newSessionId();
    const warm = newSessionId();
    await docker.createContainer(sessionContainerSpec(backend.settings, starting, expiresAt));
    await docker.createContainer(sessionContainerSpec(backend.settings, warm, expiresAt, undefined, true));
    try {
      expect(await backend.reapExpiredSessions()).not.toContain(starting);
      expect(await exists(starting)).toBe(true);
      expect(await exists(warm)).toBe(true);
    } finally {
      for (const id of [starting, warm]) {
        await docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => {});
      }
    }
  });

  // A server killed between a warm container's create and its start leaves it `created`: nobody waits for it, so it
  // goes after a short grace (within interval + 10 s in all), removed without force so one a live server started stays.
  it("removes a warm container created but never started after its short grace, and never one that has started", async () => {
    const expiresAt = unixNow() + 300;
    const [warm, claimed, started] = [newSessionId(), newSessionId(), newSessionId()];
    await docker.createContainer(sessionContainerSpec(backend.settings, warm, expiresAt, undefined, true));
    await docker.createContainer(sessionContainerSpec(backend.settings, claimed, expiresAt));
    const running = await foreignContainer(started, {
      ...labels,
      app: "code-interpreter",
      component: "session",
      "code-interpreter.expires-at": String(expiresAt),
    });
    const warnings: string[] = [];
    try {
      const later = unixNow() + WARM_CREATED_GRACE_SECONDS + 2;
      await reap(docker, backend.settings.sandboxRuntime, (message) => warnings.push(message), later);
      expect(await exists(warm)).toBe(false);
      // A request waits on a claimed one's start: it keeps the longer grace.
      expect(await exists(claimed)).toBe(true);
      // What the reaper does when a server starts the container between its list and its removal.
      expect(await removeUnstarted(docker, running.id)).toBe(false);
      expect(await exists(started)).toBe(true);
      expect(warnings).toEqual([]);
    } finally {
      for (const id of [warm, claimed, started]) {
        await docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => {});
      }
    }
  });

  it("reaps one-shot containers long past their deadline and leaves running ones alone", async () => {
    const stale = newExecName();
    const current = newExecName();
    const exec = { ...labels, app: "code-interpreter", component: "exec" };
    await foreignContainer(stale, { ...exec, "code-interpreter.expires-at": String(unixNow() - 3600) });
    await foreignContainer(current, { ...exec, "code-interpreter.expires-at": String(unixNow() + 3600) });
    try {
      await backend.reapExpiredSessions();
      expect(await exists(stale)).toBe(false);
      expect(await exists(current)).toBe(true);
    } finally {
      await Promise.all(
        [stale, current].map((name) =>
          docker
            .getContainer(name)
            .remove({ force: true })
            .catch(() => {}),
        ),
      );
    }
  });

  it("refuses to touch a container that is named like a session but lacks our labels", async () => {
    const id = newSessionId();
    await foreignContainer(id, {});
    try {
      await expect(backend.deleteSession(id)).rejects.toSatisfy(notFound);
      await expect(backend.getSession(id)).rejects.toSatisfy(notFound);
      await expect(backend.runInSession({ sessionId: id, language: "bash", code: "id", timeoutMs: 5000 })).rejects.toSatisfy(notFound);
      await expect(backend.readSessionFiles(id)).rejects.toSatisfy(notFound);
      await backend.reapExpiredSessions();
      expect(await exists(id)).toBe(true);
    } finally {
      await docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => {});
    }
  });

  it("keeps an extended expiry for the next server, and deletes the keepalive records with the session", async () => {
    const session = await backend.createSession({ ttlSeconds: 60, files: [] });
    try {
      await backend.extendSession(session.id, 900);
      const extended = await backend.extendSession(session.id, 600);
      const restarted = await createDockerBackend(testSettings(labels));
      try {
        expect(await restarted.getSession(session.id)).toEqual(extended);
        expect(await restarted.listSessions()).toContainEqual(extended);
      } finally {
        await restarted.close();
      }
    } finally {
      await backend.deleteSession(session.id);
    }
    expect(await containersLabelled(labels)).toEqual([]);
  });

  it("treats a session whose container stopped as gone", async () => {
    const session = await backend.createSession({ ttlSeconds: 300, files: [] });
    try {
      await docker.getContainer(session.id).kill();
      await expect(backend.runInSession({ sessionId: session.id, language: "bash", code: "true", timeoutMs: 5000 })).rejects.toSatisfy(
        notFound,
      );
      expect(await exists(session.id)).toBe(false);
    } finally {
      await docker
        .getContainer(session.id)
        .remove({ force: true })
        .catch(() => {});
    }
  });

  it("stops waiting for a session command when the caller aborts, and the session lives on", async () => {
    const session = await backend.createSession({ ttlSeconds: 300, files: [] });
    try {
      const controller = new AbortController();
      const pending = backend.runInSession({
        sessionId: session.id,
        language: "bash",
        code: "sleep 3",
        timeoutMs: 5000,
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 300);
      await expect(pending).rejects.toThrow();
      const after = await backend.runInSession({ sessionId: session.id, language: "bash", code: "echo still here", timeoutMs: 5000 });
      expect(after.stdout).toBe("still here\n");
    } finally {
      await backend.deleteSession(session.id);
    }
  });

  // Under staggered load 2 of 50 commands once failed with a bare 503 "its runner ended", which said nothing of why
  // (issue 24): the answer now carries the exec's exit status and the container's state.
  it("says how a session's command runner ended when it ended during a command, and starts a new one for the next", async () => {
    const session = await backend.createSession({ ttlSeconds: 300, files: [] });
    try {
      const [, , , source] = killByMarkerArgv(SERVE_MARKER);
      const failed = backend.runInSession({ sessionId: session.id, language: "bash", code: `python3 -I -c '${source}'`, timeoutMs: 5000 });
      await expect(failed).rejects.toSatisfy((error) => BackendUnavailableError.isInstance(error));
      await expect(failed).rejects.toThrow(/its runner ended: exec exit 137 \(SIGKILL\); container running/);
      const after = await backend.runInSession({ sessionId: session.id, language: "bash", code: "echo still here", timeoutMs: 5000 });
      expect(after.stdout).toBe("still here\n");
    } finally {
      await backend.deleteSession(session.id);
    }
  });

  it("removes the one-shot container when the caller aborts before it starts", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      backend.execute({ code: "print(1)", timeoutMs: 5000, lastLineInteractive: false, files: [], signal: controller.signal }),
    ).rejects.toThrow();
    await backend.whenIdle();
    expect(await containersLabelled(labels)).toEqual([]);
  });
});
