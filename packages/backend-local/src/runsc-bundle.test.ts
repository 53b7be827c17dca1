import { RUNTIME_LABEL_KEY } from "@code-interpreter/core/sandbox";
import { describe, expect, it } from "vitest";
import { runscGlobalArgs, runscRunArgs, runscSpec, SERVER_PID_ANNOTATION } from "./runsc-bundle.js";

const base = {
  name: "code-exec-test",
  uid: 65532,
  rootfs: "/var/cache/code-interpreter/rootfs/abc",
  argv: ["/usr/bin/python3", "-c", "pass"],
  tmpfsBytes: 1024 * 1024,
  passwdPath: "/state/runsc/bundles/x/passwd",
  groupPath: "/state/runsc/bundles/x/group",
};

const mount = (spec: ReturnType<typeof runscSpec>, destination: string) => spec.mounts.find((entry) => entry.destination === destination);

describe("runscSpec", () => {
  it("runs the runner as the sandbox user in /workspace, over the prepared root filesystem read-only", () => {
    const spec = runscSpec({ ...base, env: { MALLOC_ARENA_MAX: "2" } });
    expect(spec.root).toEqual({ path: base.rootfs, readonly: true });
    expect(spec.process).toMatchObject({ args: base.argv, cwd: "/workspace", user: { uid: 65532, gid: 65532 }, terminal: false });
    expect(spec.process.env).toEqual(["PATH=/usr/local/bin:/usr/bin:/bin", "MALLOC_ARENA_MAX=2"]);
    expect(spec.hostname).toBe("code-exec-test");
  });

  it("gives no capabilities, no new privileges, its own namespaces and the shared syscall policy", () => {
    const spec = runscSpec(base);
    expect(Object.values(spec.process.capabilities).flat()).toEqual([]);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.linux.namespaces.map((namespace) => namespace.type).sort()).toEqual(["ipc", "mount", "network", "pid", "uts"]);
    expect(spec.linux.seccomp?.defaultAction).toBe("SCMP_ACT_ALLOW");
    expect(spec.linux.seccomp?.syscalls.flatMap((rule) => rule.names)).toContain("io_uring_setup");
  });

  it("gives /tmp, /dev/shm and a one-shot /workspace a size-limited tmpfs, and binds a session's workspace", () => {
    const oneShot = runscSpec(base);
    for (const destination of ["/tmp", "/dev/shm", "/workspace"]) {
      expect(mount(oneShot, destination)).toMatchObject({ type: "tmpfs", options: expect.arrayContaining(["size=1048576"]) });
    }
    const session = runscSpec({ ...base, workspaceDir: "/state/sessions/code-session-x/workspace" });
    expect(mount(session, "/workspace")).toMatchObject({
      type: "bind",
      source: "/state/sessions/code-session-x/workspace",
      options: expect.arrayContaining(["rw"]),
    });
    expect(mount(session, "/etc/passwd")).toMatchObject({ type: "bind", source: base.passwdPath, options: expect.arrayContaining(["ro"]) });
  });

  it("labels the container with its runtime and server, and limits the whole sandbox's memory only when asked", () => {
    const spec = runscSpec({ ...base, serverPid: 4242 });
    expect(spec.annotations).toMatchObject({ [RUNTIME_LABEL_KEY]: "gvisor", [SERVER_PID_ANNOTATION]: "4242" });
    expect(spec.linux.resources).toBeUndefined();
    expect(runscSpec({ ...base, memoryBytes: 1 << 30 }).linux.resources).toEqual({ memory: { limit: 1 << 30 } });
  });
});

describe("runscRunArgs", () => {
  it("runs the bundle on the chosen platform with no network and the OCI seccomp profile loaded", () => {
    const options = { runscPath: "runsc", stateRoot: "/state/runsc/state", platform: "ptrace" };
    expect(runscGlobalArgs(options)).toEqual(["--root", "/state/runsc/state", "--platform=ptrace", "--network=none", "--oci-seccomp"]);
    expect(runscRunArgs(options, "/state/runsc/bundles/c1", "c1").slice(-4)).toEqual(["run", "--bundle", "/state/runsc/bundles/c1", "c1"]);
  });
});
