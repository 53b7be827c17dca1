import { SYSCALL_POLICY } from "@code-interpreter/core/policy";
import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { defaultDockerBackendSettings } from "./docker-backend-settings.js";
import { HOST_PROCESSES, HOST_SYSCALL_POLICY, nestedRunnerArgv, nestedSandboxConfig, reusedContainerSpec } from "./nested-host.js";

const settings = { ...defaultDockerBackendSettings(), docker: new Dockerode(), oneShotReuse: true };

describe("pooled one-shot containers (nested-host)", () => {
  it("leave out of the container's policy only what bubblewrap needs: namespaces and mounts", () => {
    const left = SYSCALL_POLICY.filter((denial) => !HOST_SYSCALL_POLICY.includes(denial)).flatMap((denial) => denial.names);
    expect(new Set(left)).toEqual(
      new Set([
        "mount",
        "umount2",
        "pivot_root",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "unshare",
        "setns",
        "clone",
      ]),
    );
  });

  it("give the nested runner the whole syscall policy to load on itself", () => {
    const argv = nestedRunnerArgv(["json"]);
    expect(argv.slice(-2)[0]).toBe("--seccomp");
    expect(argv).toContain("--preload");
  });

  it("make each execution's sandbox with its own user, pid, mount and IPC namespaces, a fresh /proc, and no further user namespaces", () => {
    const { before, after } = nestedSandboxConfig();
    for (const flag of ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--as-pid-1", "--die-with-parent"])
      expect(before).toContain(flag);
    expect(before.slice(-2)).toEqual(["--proc", "/proc"]);
    expect(after).toContain("--disable-userns");
    expect(after.at(-1)).toBe("--");
  });

  it("label the container warm, unmask its /proc for the nested one, and leave room in its pids limit for the host", () => {
    const spec = reusedContainerSpec(settings, "code-exec-test", 1234);
    expect(spec.Labels).toMatchObject({ "code-interpreter.warm": "true", "code-interpreter.expires-at": "1234", component: "exec" });
    expect(spec.HostConfig).toMatchObject({
      MaskedPaths: [],
      ReadonlyPaths: [],
      CapDrop: ["ALL"],
      ReadonlyRootfs: true,
      NetworkMode: "none",
    });
    expect(spec.HostConfig?.PidsLimit).toBe(settings.maxProcesses + HOST_PROCESSES);
    expect(spec.HostConfig?.SecurityOpt?.[0]).toBe("no-new-privileges");
  });
});
