import { BackendUnavailableError, SessionNotFoundError } from "@code-interpreter/core";
import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { DockerBackend } from "./docker-backend.js";
import { defaultDockerBackendSettings } from "./docker-backend-settings.js";
import { missingImageMessage } from "./engine-errors.js";
import { probeDocker } from "./probe-docker.js";

const unreachable = new Dockerode({ socketPath: "/nonexistent/docker.sock" });

describe("without an engine", () => {
  it("probeDocker says the engine does not answer and how to fix it", async () => {
    const probe = await probeDocker({ docker: unreachable });
    expect(probe).toEqual({ ok: false, reason: expect.stringContaining("does not answer at unix:///nonexistent/docker.sock") });
    expect(probe.ok || probe.reason).toContain("start dockerd or set DOCKER_HOST");
  });

  it("every operation fails with BackendUnavailableError, not a raw socket error", async () => {
    const backend = new DockerBackend({ ...defaultDockerBackendSettings(), docker: unreachable, warn: () => {} });
    const unavailable = (error: unknown) => BackendUnavailableError.isInstance(error);
    await expect(backend.execute({ code: "1", timeoutMs: 1000, lastLineInteractive: false, files: [] })).rejects.toSatisfy(unavailable);
    await expect(backend.createSession({ ttlSeconds: 60, files: [] })).rejects.toSatisfy(unavailable);
    await expect(backend.listSessions()).rejects.toSatisfy(unavailable);
    await expect(backend.reapExpiredSessions()).rejects.toSatisfy(unavailable);
    await expect(backend.getSession("code-session-00000000-0000-0000-0000-000000000000")).rejects.toSatisfy(unavailable);
    await backend.close();
  });

  it("refuses ids that are not sessions before asking the engine", async () => {
    const backend = new DockerBackend({ ...defaultDockerBackendSettings(), docker: unreachable });
    await expect(backend.deleteSession("../etc")).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
  });
});

describe("the missing-image message", () => {
  it("names the image and both ways to build it", () => {
    const message = missingImageMessage("my/executor:1");
    expect(message).toContain("my/executor:1");
    expect(message).toContain("pnpm image:build");
    expect(message).toContain("bash images/executor/build-offline.sh");
    expect(message).toContain("docker build -t my/executor:1 images/executor");
  });
});
