import { BackendUnavailableError, SessionNotFoundError } from "@code-interpreter/core";
import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { DockerBackend } from "./docker-backend.js";
import { defaultDockerBackendSettings } from "./docker-backend-settings.js";
import { missingImageMessage, toBackendError } from "./engine-errors.js";
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

describe("an engine that refuses the sandbox", () => {
  const refusal = (statusCode: number, message: string) =>
    Object.assign(new Error(`(HTTP code ${statusCode}) server error - ${message} `), { statusCode, json: { message } });

  it.each([
    [
      500,
      "failed to create shim task: OCI runtime create failed: cgroups in hybrid mode not supported: unknown",
      "cgroups in hybrid mode not supported",
    ],
    [400, "Minimum memory limit allowed is 6MB", "Minimum memory limit allowed is 6MB"],
  ])("%i becomes BackendUnavailableError (503) with the engine's reason, sanitised", (status, message, reason) => {
    const mapped = toBackendError(refusal(status, message), unreachable, "my/executor:1", "crun");
    expect(BackendUnavailableError.isInstance(mapped)).toBe(true);
    const text = (mapped as Error).message;
    expect(text).toContain(
      `the Docker engine refused to run the sandbox: ${message.includes("shim") ? "failed to create shim task: OCI runtime create failed: " : ""}${reason}`,
    );
    expect(text).toContain("image my/executor:1, runtime crun (PYTHON_EXECUTOR_DOCKER_RUNTIME)");
    expect(text).not.toMatch(/HTTP code|: unknown/);
  });

  it("leaves out container ids and the engine's state files", () => {
    const id = "a".repeat(64);
    const message = `OCI runtime create failed: unable to retrieve OCI runtime error (open /run/containerd/moby/${id}/log.json: no such file or directory): fork/exec /x: no such file or directory: unknown`;
    const text = (toBackendError(refusal(500, message), unreachable, "img") as Error).message;
    expect(text).toContain(
      "OCI runtime create failed: unable to retrieve OCI runtime error: fork/exec /x: no such file or directory (image img",
    );
    expect(text).not.toContain(id);
  });

  it("keeps a 404 or 409 the caller handles as it is", () => {
    const gone = refusal(404, "No such container: x");
    expect(toBackendError(gone, unreachable, "img")).toBe(gone);
    const conflict = refusal(409, "removal of container x is already in progress");
    expect(toBackendError(conflict, unreachable, "img")).toBe(conflict);
  });
});
