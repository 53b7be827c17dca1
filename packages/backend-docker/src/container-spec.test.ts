import { GVISOR_SYSCALL_POLICY, ociSeccompProfile } from "@code-interpreter/core/policy";
import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import {
  execContainerSpec,
  GVISOR_SECCOMP_SECURITY_OPTION,
  hardenedHostConfig,
  keepaliveContainerSpec,
  SECCOMP_SECURITY_OPTION,
  sessionContainerSpec,
} from "./container-spec.js";
import { type DockerBackendSettings, defaultDockerBackendSettings } from "./docker-backend-settings.js";

const settings: DockerBackendSettings = {
  ...defaultDockerBackendSettings(),
  docker: new Dockerode(),
  labels: { app: "someone-else", team: "data" },
};

describe("container specs", () => {
  it("apply the isolation defaults of the design", () => {
    expect(hardenedHostConfig(settings)).toMatchObject({
      NetworkMode: "none",
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges", SECCOMP_SECURITY_OPTION],
      ReadonlyRootfs: true,
      Memory: 512 * 1024 * 1024,
      MemorySwap: 512 * 1024 * 1024,
      NanoCpus: 1e9,
      PidsLimit: 128,
      Privileged: false,
    });
    expect(hardenedHostConfig(settings).Tmpfs).toEqual({
      "/workspace": "rw,exec,nosuid,nodev,size=256m,nr_inodes=262144,mode=0755,uid=65532,gid=65532",
      "/tmp": "rw,exec,nosuid,nodev,size=256m,nr_inodes=262144,mode=1777",
    });
  });

  it("pass the sandbox's own seccomp profile, not the engine's default", () => {
    expect(JSON.parse(SECCOMP_SECURITY_OPTION.slice("seccomp=".length))).toEqual(ociSeccompProfile());
    for (const spec of [execContainerSpec(settings, "code-exec-x", ["python3"], 1), sessionContainerSpec(settings, "code-session-y", 1)]) {
      expect(spec.HostConfig?.SecurityOpt).toContain(SECCOMP_SECURITY_OPTION);
    }
  });

  it("pass gVisor sandboxes the policy without its clone3 rule, with which no thread starts under runsc", () => {
    const gvisor = { ...settings, sandboxRuntime: "gvisor" as const };
    expect(JSON.parse(GVISOR_SECCOMP_SECURITY_OPTION.slice("seccomp=".length))).toEqual(ociSeccompProfile(GVISOR_SYSCALL_POLICY));
    for (const spec of [execContainerSpec(gvisor, "code-exec-x", ["python3"], 1), sessionContainerSpec(gvisor, "code-session-y", 1)]) {
      expect(spec.HostConfig?.SecurityOpt).toEqual(["no-new-privileges", GVISOR_SECCOMP_SECURITY_OPTION]);
    }
  });

  it("give a gVisor sandbox's memory cgroup room for gVisor's kernel and each process, the limit itself otherwise", () => {
    const MB = 1024 * 1024;
    expect(hardenedHostConfig({ ...settings, memoryLimitMb: 256 }).Memory).toBe(256 * MB);
    const gvisor = hardenedHostConfig({ ...settings, sandboxRuntime: "gvisor", memoryLimitMb: 256, maxProcesses: 64 });
    // 256 MB for gVisor's own kernel, 8 MB per process RLIMIT_NPROC allows (a forked Python took about 6.4 MB).
    expect(gvisor).toMatchObject({ Memory: (256 + 256 + 8 * 64) * MB, MemorySwap: (256 + 256 + 8 * 64) * MB });
  });

  it("use the configured OCI runtime (gVisor, Kata) and the engine's default otherwise", () => {
    expect(hardenedHostConfig({ ...settings, runtime: "runsc" }).Runtime).toBe("runsc");
    expect(hardenedHostConfig(settings)).not.toHaveProperty("Runtime");
  });

  it("run gvisor sandboxes on runsc, or on the name the operator registered gVisor under", () => {
    expect(hardenedHostConfig({ ...settings, sandboxRuntime: "gvisor" }).Runtime).toBe("runsc");
    expect(hardenedHostConfig({ ...settings, sandboxRuntime: "gvisor", runtime: "gvisor-ptrace" }).Runtime).toBe("gvisor-ptrace");
  });

  it("keep the pids cgroup a backstop above runsc's own threads under gVisor, the limit itself under the default runtime", () => {
    expect(hardenedHostConfig(settings).PidsLimit).toBe(128);
    // runsc needs ~38 host threads to start at all, and 5 to 15 per process of the code (ptrace stubs, sentry threads).
    expect(hardenedHostConfig({ ...settings, sandboxRuntime: "gvisor", maxProcesses: 64 }).PidsLimit).toBe(64 + 16 * 64);
  });

  it("label every container with its sandbox runtime", () => {
    const gvisor = { ...settings, sandboxRuntime: "gvisor" as const };
    for (const spec of [
      execContainerSpec(gvisor, "code-exec-x", ["python3"], 1),
      sessionContainerSpec(gvisor, "code-session-y", 1),
      keepaliveContainerSpec(gvisor, "code-session-y", 1),
    ]) {
      expect(spec.Labels?.["code-interpreter.runtime"]).toBe("gvisor");
    }
    expect(execContainerSpec(settings, "code-exec-x", ["python3"], 1).Labels?.["code-interpreter.runtime"]).toBe("default");
  });

  it("give network only when one is configured", () => {
    expect(hardenedHostConfig({ ...settings, network: "bridge" }).NetworkMode).toBe("bridge");
  });

  it("run as the sandbox user and keep our labels over the operator's", () => {
    const exec = execContainerSpec(settings, "code-exec-x", ["python3"], 1234);
    expect(exec).toMatchObject({
      name: "code-exec-x",
      User: "65532:65532",
      WorkingDir: "/workspace",
      OpenStdin: true,
      StdinOnce: true,
      Tty: false,
    });
    expect(exec.Labels).toEqual({
      app: "code-interpreter",
      component: "exec",
      team: "data",
      "code-interpreter.expires-at": "1234",
      "code-interpreter.runtime": "default",
    });
    const session = sessionContainerSpec(settings, "code-session-y", 99);
    expect(session.Labels).toMatchObject({ app: "code-interpreter", component: "session", "code-interpreter.expires-at": "99" });
    const keepalive = keepaliveContainerSpec(settings, "code-session-y", 500);
    expect(keepalive.name).toMatch(/^code-session-y-keepalive-/);
    expect(keepalive.Labels).toMatchObject({ component: "session-keepalive", "code-interpreter.session": "code-session-y" });
  });
});
