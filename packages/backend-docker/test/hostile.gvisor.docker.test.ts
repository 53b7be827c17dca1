import { describeHostileSuite, gvisorSections } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, fileLabels, gvisorAvailable, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();

const SOCKET_EPERM = "gVisor (--network=none) refuses the family itself with EPERM before the filter's EAFNOSUPPORT: refused all the same";

// Measured with runsc 20221219 (ptrace platform, registered with --oci-seccomp) on cgroup v1; each reason is what the run showed.
const GVISOR_GAPS: Record<string, string> = {
  "limits the inodes of /workspace": "gVisor's tmpfs ignores nr_inodes: empty files are bounded by the memory limit instead",
  "limits the inodes of /tmp": "gVisor's tmpfs ignores nr_inodes: empty files are bounded by the memory limit instead",
  "answers code that signals its runner and every process it can":
    "kill(-1) inside gVisor also reaches the runner, which is no sandbox init there: the sandbox ends (exit 137) without an answer",
  "keeps a session usable after its code signals every process it can":
    "kill(-1) inside gVisor also ends the session's init: the session is gone",
  "does not let a daemon a session command detached outlive the command":
    "this gVisor does not re-parent orphans to a PR_SET_CHILD_SUBREAPER: a detached daemon outlives its command until the session ends",
  "has no capabilities": "gVisor's /proc/self/status has no CapAmb line (CapEff and CapPrm are 0)",
  "cannot gain privileges (no_new_privs)": "gVisor's /proc/self/status has no NoNewPrivs line (the engine sets it on runsc)",
  "is refused the socket(AF_VSOCK) syscall": SOCKET_EPERM,
  "is refused the socket(AF_PACKET) syscall": SOCKET_EPERM,
  "is refused the socket(AF_NETLINK) syscall": SOCKET_EPERM,
};
const DOCKER_GVISOR_SUBSET = [
  "cannot reach the host, its loopback or the cloud metadata service",
  "cannot resolve names",
  "cannot see the container engine's or the cluster's sockets and credentials",
  "runs as uid and gid 65532",
  "runs under a seccomp filter",
  "is refused the io_uring_setup syscall",
  "is refused ptrace of a session's pid 1 and of its runner",
  "runs a session's commands and Python cells under the seccomp filter",
  "sees no secret of the server in its environment or /proc",
  "cannot write to the root filesystem",
  "shares no files, shared memory, sockets or processes between two sandboxes",
  "shares no files, shared memory, sockets or processes between two sessions",
];
afterAll(() => removeLabelled(labels));

// The hostile suite with every container under gVisor. Where gVisor changes an answer, `gaps` and
// `assumes` say why (the README's "Runtimes" section lists them).
if (await gvisorAvailable("the Docker backend's gVisor hostile tests")) {
  let backend: DockerBackend | undefined;
  describeHostileSuite({
    name: "docker (gvisor)",
    createBackend: async (settings) => {
      backend = await createDockerBackend({
        ...testSettings(labels),
        ...settings,
        sandboxRuntime: "gvisor",
        pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json"],
      });
      return backend;
    },
    listLeftovers: async () => {
      await backend?.whenIdle();
      return containersLabelled(labels);
    },
    sameHost: true,
    gaps: GVISOR_GAPS,
    // 100,000 small files through gVisor's ptrace platform (GVISOR_SUITE=full): about a minute quiet, more under load.
    syscallSlowdown: 3,
    // CI's subset here: what the engine's runsc runtime itself must get right (no network, the
    // syscall filter on every process, the user, the read-only root, no engine socket, nothing
    // shared); local's gVisor file runs the whole section. GVISOR_SUITE=full runs everything.
    sections: gvisorSections(["escape and isolation"], DOCKER_GVISOR_SUBSET),
  });
} else {
  describe.skip("docker (gvisor) backend against hostile code (no Docker engine with runsc, or no executor image)", () => {
    it("runs against a real engine with gVisor", () => {});
  });
}
