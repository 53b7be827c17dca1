import { BackendUnavailableError, SessionNotFoundError } from "@code-interpreter/core";
import { newSessionId, unixNow } from "@code-interpreter/core/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, docker, fileLabels, gvisorAvailable, image, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
const notFound = (error: unknown) => SessionNotFoundError.isInstance(error);

/** An expired session container as another server of `runtime` would have left it (no label: made before runtimes). */
async function expiredSession(runtime?: string): Promise<string> {
  const id = newSessionId();
  const container = await docker.createContainer({
    name: id,
    Image: image,
    Cmd: ["sleep", "infinity"],
    Labels: {
      ...labels,
      app: "code-interpreter",
      component: "session",
      "code-interpreter.expires-at": String(unixNow() - 10),
      ...(runtime ? { "code-interpreter.runtime": runtime } : {}),
    },
    HostConfig: { NetworkMode: "none", ReadonlyRootfs: true, CapDrop: ["ALL"], LogConfig: { Type: "none", Config: {} } },
  });
  await container.start();
  return id;
}

const exists = (name: string) =>
  docker
    .getContainer(name)
    .inspect()
    .then(
      () => true,
      () => false,
    );

// A server offering both runtimes builds one Docker backend per runtime on one engine: neither may take the other's.
describe.skipIf(!(await gvisorAvailable("the Docker backend's runtime tests")))(
  "a default and a gvisor backend on one engine",
  { timeout: 120_000 },
  () => {
    let plain: DockerBackend;
    let gvisor: DockerBackend;
    beforeAll(async () => {
      const settings = { ...testSettings(labels), pool: false, sessionPool: false } as const;
      plain = await createDockerBackend(settings);
      gvisor = await createDockerBackend({ ...settings, sandboxRuntime: "gvisor" });
    });
    afterAll(async () => {
      await Promise.all([plain?.close(), gvisor?.close()]);
      await removeLabelled(labels);
    });

    it("say their runtime, and run code on it", async () => {
      expect(plain.capabilities.runtime).toBe("default");
      expect(gvisor.capabilities.runtime).toBe("gvisor");
      // gVisor's kernel reports its own release (4.4.0 in this one), not the host's.
      const code = "print(open('/proc/version').read().split()[2])";
      const [onHost, onGvisor] = await Promise.all([
        plain.execute({ code, timeoutMs: 20_000, lastLineInteractive: false, files: [] }),
        gvisor.execute({ code, timeoutMs: 20_000, lastLineInteractive: false, files: [] }),
      ]);
      expect(onGvisor.exitCode).toBe(0);
      expect(onGvisor.stdout).not.toBe(onHost.stdout);
    });

    it("each find, list and delete only their own runtime's sessions", async () => {
      const [mine, theirs] = await Promise.all([
        plain.createSession({ ttlSeconds: 300, files: [] }),
        gvisor.createSession({ ttlSeconds: 300, files: [] }),
      ]);
      try {
        expect((await docker.getContainer(theirs.id).inspect()).HostConfig.Runtime).toBe("runsc");
        expect((await docker.getContainer(mine.id).inspect()).HostConfig.Runtime).not.toBe("runsc");
        expect((await plain.listSessions()).map((session) => session.id)).toEqual([mine.id]);
        expect((await gvisor.listSessions()).map((session) => session.id)).toEqual([theirs.id]);
        await expect(plain.getSession(theirs.id)).rejects.toSatisfy(notFound);
        await expect(plain.runInSession({ sessionId: theirs.id, language: "bash", code: "id", timeoutMs: 5000 })).rejects.toSatisfy(
          notFound,
        );
        await expect(plain.deleteSession(theirs.id)).rejects.toSatisfy(notFound);
        await expect(gvisor.extendSession(mine.id, 600)).rejects.toSatisfy(notFound);
        await expect(gvisor.deleteSession(mine.id)).rejects.toSatisfy(notFound);
        const answer = await gvisor.runInSession({ sessionId: theirs.id, language: "bash", code: "echo still here", timeoutMs: 20_000 });
        expect(answer.stdout).toBe("still here\n");
      } finally {
        await Promise.all([plain.deleteSession(mine.id), gvisor.deleteSession(theirs.id)]);
      }
      expect(await containersLabelled(labels)).toEqual([]);
    });

    it("each reap only their own runtime's expired sessions (an unlabelled one is the default runtime's)", async () => {
      const [unlabelled, labelledGvisor] = await Promise.all([expiredSession(), expiredSession("gvisor")]);
      try {
        await gvisor.reapExpiredSessions();
        expect(await exists(unlabelled)).toBe(true);
        expect(await exists(labelledGvisor)).toBe(false);
        const leftGvisor = await expiredSession("gvisor");
        await plain.reapExpiredSessions();
        expect(await exists(unlabelled)).toBe(false);
        expect(await exists(leftGvisor)).toBe(true);
        await gvisor.reapExpiredSessions();
        expect(await exists(leftGvisor)).toBe(false);
      } finally {
        await removeLabelled(labels);
      }
    });

    it("refuses at creation a gvisor backend whose runtime the engine does not have, saying how to register it", async () => {
      const refused = createDockerBackend({
        ...testSettings(labels),
        sandboxRuntime: "gvisor",
        runtime: "no-such-gvisor",
        pool: false,
        sessionPool: false,
      });
      await expect(refused).rejects.toSatisfy((error) => BackendUnavailableError.isInstance(error));
      await expect(refused).rejects.toThrow(/gVisor's runtime no-such-gvisor \(SANDBOX_RUNTIME=gvisor.*not registered.*daemon\.json/);
    });
  },
);
