import { describeHostileSuite, gvisorSections } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, fileLabels, gvisorAvailable, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();

// Measured with runsc 20221219 (ptrace platform) on cgroup v1; each reason is what the run showed.
const SECCOMP =
  "runsc applies no OCI seccomp profile unless started with --oci-seccomp (not in this engine's runsc runtimeArgs): gVisor's own kernel answers";
const GVISOR_GAPS: Record<string, string> = {
  "contains a fork bomb":
    "the bomb is held (RLIMIT_NPROC; the sandbox and the backend live on) but it ends before its timeout instead of running into it, with no output: why is not yet known",
  "does not let a fork bomb in one sandbox starve another":
    "as for the fork bomb: the bomb's execution ends before its timeout (the other sandbox is not starved)",
  "limits the inodes of /workspace": "gVisor's tmpfs ignores nr_inodes: empty files are bounded by the memory limit instead",
  "limits the inodes of /tmp": "gVisor's tmpfs ignores nr_inodes: empty files are bounded by the memory limit instead",
  "answers code that signals its runner and every process it can":
    "kill(-1) inside gVisor also reaches the runner, which is no sandbox init there: the sandbox ends (exit 137) without an answer",
  "keeps a session usable after its code signals every process it can":
    "kill(-1) inside gVisor also ends the session's init: the session is gone",
  "does not let a daemon a session command detached outlive the command":
    "this gVisor does not re-parent orphans to a PR_SET_CHILD_SUBREAPER: a detached daemon outlives its command until the session ends",
  "answers for 100,000 small files with a bounded snapshot":
    "gVisor's tmpfs keeps each file's metadata in the sandbox's memory: 100,000 files exceed the memory limit and the sandbox is killed (137)",
  "has no capabilities": "gVisor's /proc/self/status has no CapAmb line (CapEff and CapPrm are 0)",
  "cannot gain privileges (no_new_privs)": "gVisor's /proc/self/status has no NoNewPrivs line (the engine sets it on runsc)",
  "runs under a seccomp filter": `${SECCOMP}; /proc/self/status says Seccomp 0`,
  "is refused the unshare syscall": `${SECCOMP}: unshare succeeds, into gVisor's own namespaces`,
  "is refused the clone(CLONE_NEWUSER) syscall": `${SECCOMP}: a user namespace of gVisor's kernel, not the host's`,
  "is refused the process_vm_readv syscall": `${SECCOMP}: ENOSYS, gVisor does not implement it`,
  "is refused the keyctl syscall": `${SECCOMP}: EACCES from gVisor's minimal keyrings`,
  "is refused the add_key syscall": `${SECCOMP}: EACCES from gVisor's minimal keyrings`,
  "is refused the io_uring_setup syscall": `${SECCOMP}: gVisor's own io_uring, in its kernel, not the host's`,
  "is refused the userfaultfd syscall": `${SECCOMP}: ENOSYS, gVisor does not implement it`,
  "is refused the perf_event_open syscall": `${SECCOMP}: ENODEV, gVisor has no perf events`,
  "is refused the socket(AF_PACKET) syscall": "gVisor with --network=none answers EPERM, not EAFNOSUPPORT: refused all the same",
  "is refused the socket(AF_NETLINK) syscall": `${SECCOMP}: gVisor's own netlink (route), answered by its netstack, not the host's`,
  "is refused ptrace of a session's pid 1 and of its runner": `${SECCOMP}: gVisor's ptrace answers ESRCH, not EPERM (still refused)`,
};
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
    sections: gvisorSections(["escape and isolation"]),
  });
} else {
  describe.skip("docker (gvisor) backend against hostile code (no Docker engine with runsc, or no executor image)", () => {
    it("runs against a real engine with gVisor", () => {});
  });
}
