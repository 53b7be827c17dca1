import type { ContainerInspectInfo } from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerBackend, type DockerBackend, SECCOMP_SECURITY_OPTION } from "../src/index.js";
import { docker, dockerAvailable, fileLabels, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
const MB = 1024 * 1024;

/** Reads, from inside a sandbox, what the kernel enforces on it. */
const PROBE = `import os
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
def first(*paths):
    for path in paths:
        try:
            return open(path).read().strip()
        except OSError:
            pass
disk = os.statvfs("/workspace")
print(status["CapEff"].strip(), status["NoNewPrivs"].strip())
print(",".join(sorted(os.listdir("/sys/class/net"))))
print(disk.f_blocks * disk.f_frsize // 2**20)
print(first("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"))
print(first("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"))
try:
    open("/usr/lib/planted", "w")
    print("root writable")
except OSError as error:
    print(error.strerror)
`;

describe.skipIf(!(await dockerAvailable()))("docker hardening", { timeout: 60_000 }, () => {
  let backend: DockerBackend;
  beforeAll(async () => {
    backend = await createDockerBackend({ ...testSettings(labels), memoryLimitMb: 200, maxProcesses: 64, workspaceSizeMb: 32, cpus: 0.5 });
  });
  afterAll(async () => {
    await backend?.close();
    await removeLabelled(labels);
  });

  const expectHardened = (info: ContainerInspectInfo) => {
    expect(info.Config.User).toBe("65532:65532");
    expect(info.HostConfig).toMatchObject({
      NetworkMode: "none",
      CapDrop: ["ALL"],
      // The sandbox's own seccomp profile, as the engine stored it, not the engine's default.
      SecurityOpt: ["no-new-privileges", SECCOMP_SECURITY_OPTION],
      ReadonlyRootfs: true,
      Privileged: false,
      Memory: 200 * MB,
      MemorySwap: 200 * MB,
      NanoCpus: 0.5e9,
      PidsLimit: 64,
    });
    expect(info.HostConfig.Tmpfs?.["/workspace"]).toContain("size=32m");
    expect(info.HostConfig.Tmpfs?.["/tmp"]).toContain("size=32m");
    expect(info.HostConfig.Tmpfs?.["/tmp"]).toContain("nr_inodes=32768");
  };

  it("creates session containers with every control in their HostConfig", async () => {
    const session = await backend.createSession({ ttlSeconds: 300, files: [] });
    try {
      expectHardened(await docker.getContainer(session.id).inspect());
    } finally {
      await backend.deleteSession(session.id);
    }
  });

  it("creates one-shot containers with every control in their HostConfig", async () => {
    let inspected: Promise<ContainerInspectInfo> | undefined;
    const result = await backend.execute({
      code: "import time\nprint('ready', flush=True)\ntime.sleep(1)",
      timeoutMs: 10_000,
      lastLineInteractive: false,
      files: [],
      onStdout: async () => {
        inspected ??= docker
          .listContainers({
            filters: { label: [`code-interpreter.test-file=${labels["code-interpreter.test-file"]}`], name: ["code-exec-"] },
          })
          .then(([container]) => docker.getContainer(container?.Id ?? "missing").inspect());
      },
    });
    expect(result.exitCode).toBe(0);
    const info = await inspected;
    expect(info?.Name).toMatch(/^\/code-exec-[0-9a-f-]{36}$/);
    expect(info?.Config.Labels).toMatchObject({ app: "code-interpreter", component: "exec" });
    if (info) expectHardened(info);
  });

  it("enforces them inside: no capabilities, no network, limited memory, pids and disk, read-only root", async () => {
    const result = await backend.execute({ code: PROBE, timeoutMs: 10_000, lastLineInteractive: false, files: [] });
    expect(result.stderr).toBe("");
    expect(result.stdout.split("\n")).toEqual(["0000000000000000 1", "lo", "32", String(200 * MB), "64", "Read-only file system", ""]);
  });

  it("gives session commands the same limits", async () => {
    const session = await backend.createSession({ ttlSeconds: 300, files: [] });
    try {
      const result = await backend.runInSession({ sessionId: session.id, language: "python", code: PROBE, timeoutMs: 10_000 });
      expect(result.stdout.split("\n")).toEqual(["0000000000000000 1", "lo", "32", String(200 * MB), "64", "Read-only file system", ""]);
    } finally {
      await backend.deleteSession(session.id);
    }
  });

  it("stops a runaway workspace at its size limit", async () => {
    const result = await backend.execute({
      code: "try:\n    open('big', 'wb').write(b'x' * 64 * 2**20)\nexcept OSError as error:\n    print(error.strerror)",
      timeoutMs: 10_000,
      lastLineInteractive: false,
      files: [],
    });
    expect(result.stdout).toMatch(/No space left on device|File too large/);
  });
});
