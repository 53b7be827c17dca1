import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { APP_LABEL, defaultRootfs, PREPARE_ROOTFS_SCRIPT } from "@code-interpreter/core/sandbox";
import { describeBackendContract, HOSTILE_SETTINGS, type SuiteSections, SYSCALL_TESTS } from "@code-interpreter/core/testing";
import { KubernetesDouble, type KubernetesDoubleOptions } from "@code-interpreter/kubernetes-double";
import { dockerAvailable as available } from "@code-interpreter/test-support";
import { NodeV1Api, type V1RuntimeClass } from "@kubernetes/client-node";
import Dockerode from "dockerode";
import { afterAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import {
  createKubernetesBackend,
  DEFAULT_EXECUTOR_IMAGE,
  GVISOR_LOCALHOST_SECCOMP_PROFILE,
  type KubernetesBackend,
  type KubernetesBackendSettings,
  LOCALHOST_SECCOMP_PROFILE,
  WARM_LABEL_KEY,
} from "../src/index.js";
import { hasEnded } from "../src/session-records.js";
import { TEST_RUN_LABEL } from "./labels.js";

export const image = process.env.KUBERNETES_EXECUTOR_IMAGE || process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || DEFAULT_EXECUTOR_IMAGE;
export const namespace = "code-interpreter-test";

/**
 * Whether the double can run pods here (a Docker engine and the executor
 * image). Under CI=true their absence fails the file; locally the tests are
 * skipped with the reason.
 */
export const dockerAvailable = () => available({ image, purpose: "the Kubernetes backend tests (pods on Docker in the double)" });

/**
 * Whether the double can run gVisor pods here: a Docker engine with the
 * executor image and runsc registered as a runtime (scripts/test.d/60-gvisor.sh),
 * which the double's docker runtime gives pods of a RuntimeClass with handler
 * `runsc`. Under CI=true their absence fails the file; locally the tests are
 * skipped with the reason.
 */
export async function gvisorAvailable(): Promise<boolean> {
  if (!(await dockerAvailable())) return false;
  const runtimes = await new Dockerode()
    .info()
    .then((info: { Runtimes?: Record<string, unknown> }) => Object.keys(info.Runtimes ?? {}))
    .catch((): string[] => []);
  if (runtimes.includes("runsc")) return true;
  const reason = "the Docker engine has no runsc runtime (scripts/test.d/60-gvisor.sh installs and registers it)";
  if (process.env.CI === "true") throw new Error(`${reason}: the Kubernetes double runs gVisor pods with it`);
  console.warn(`Skipping Kubernetes gVisor tests: ${reason}`);
  return false;
}

/** deploy/seccomp, standing in for a node's /var/lib/kubelet/seccomp with the shipped profiles installed. */
export const SECCOMP_ROOT = fileURLToPath(new URL("../../../deploy/seccomp/", import.meta.url));

/** deploy/runtimeclass.yaml: the RuntimeClass an operator applies for gVisor, as the tests give it to the double. */
export const RUNTIME_CLASS_MANIFEST = fileURLToPath(new URL("../../../deploy/runtimeclass.yaml", import.meta.url));

/** Creates deploy/runtimeclass.yaml's RuntimeClass in the double through the real client, as `kubectl apply` would. */
export async function applyRuntimeClass(double: KubernetesDouble): Promise<V1RuntimeClass> {
  const manifest = parse(await readFile(RUNTIME_CLASS_MANIFEST, "utf8")) as V1RuntimeClass;
  return double.kubeConfig(namespace).makeApiClient(NodeV1Api).createRuntimeClass({ body: manifest });
}

/**
 * Whether the double's process runtime can run pods here (bubblewrap and
 * the prepared sandbox environment, which its pods run in as the executor
 * image's containers do). Under CI=true their absence fails the file.
 */
export function bwrapAvailable(): boolean {
  const bwrap = spawnSync("bwrap", ["--version"]);
  const reason =
    bwrap.status !== 0
      ? "bubblewrap (bwrap) is needed"
      : !existsSync(join(defaultRootfs(), "usr/bin/python3"))
        ? `the sandbox environment prepared at ${defaultRootfs()} (sudo bash ${PREPARE_ROOTFS_SCRIPT}) is needed`
        : undefined;
  if (!reason) return true;
  if (process.env.CI === "true") throw new Error(`${reason} to run pods in the Kubernetes double's process runtime`);
  console.warn(`Skipping Kubernetes process-runtime tests: ${reason}`);
  return false;
}

/** A double whose containers carry this run's label (checked at the end of the run). */
export function startDouble(options: KubernetesDoubleOptions = {}): Promise<KubernetesDouble> {
  // Process pods run in the same root filesystem the executor image is made from.
  return KubernetesDouble.start({ rootfs: defaultRootfs(), ...options, labels: { [TEST_RUN_LABEL]: inject("kubernetesTestRun") } });
}

/** Backend settings for tests: the double, the test namespace and image, short start timeouts. */
export type TestOverrides = Partial<KubernetesBackendSettings> & { ownerDeployment?: string };

/** Without a warm pool unless `extra` asks for one: pods then come and go only as each test makes them. */
export function testSettings(double: KubernetesDouble, extra: TestOverrides = {}): TestOverrides {
  // No warm pools unless a test asks (the contract and hostile suites do): a pool's pods come and go between a test's own.
  return {
    kubeConfig: double.kubeConfig(namespace),
    namespace,
    image,
    podStartTimeoutMs: 30_000,
    pool: false,
    sessionPool: false,
    ...extra,
  };
}

/** The warm pools (one-shot and session) the contract and hostile suites run with. */
export const TEST_POOL = { min: 1, max: 2, idleTimeoutMs: 60_000 } as const;

/** Every backend the tests made: their finished executions' pods go after the answer, in the background. */
const backends = new Set<KubernetesBackend>();

export async function createTestBackend(double: KubernetesDouble, extra: TestOverrides = {}): Promise<KubernetesBackend> {
  const backend = await createKubernetesBackend(testSettings(double, extra));
  backends.add(backend);
  return backend;
}

/**
 * Pods of ours still stored by the double, and containers (or sandboxes)
 * it still has, by name. Warm pods waiting in a pool, and their containers,
 * are left out unless `includeWarm`: they are not leftovers while the
 * backend runs (close() deletes them; `stopDouble` counts everything).
 * Pods of finished executions, which the backends delete after the answer,
 * are waited for first.
 */
export async function leftovers(double: KubernetesDouble, options: { includeWarm?: boolean } = {}): Promise<string[]> {
  // A one-shot pod whose deletion is still under way is not a leftover.
  await Promise.all([...backends].map((backend) => backend.whenIdle()));
  const ours = double.listPods(namespace).filter((pod) => pod.metadata?.labels?.[APP_LABEL.key] === APP_LABEL.value);
  const waiting = ours.filter(
    (pod) => !options.includeWarm && pod.metadata?.labels?.[WARM_LABEL_KEY] === "true" && !hasEnded(pod.status?.phase ?? ""),
  );
  const pods = ours.filter((pod) => !waiting.includes(pod)).map((pod) => `pod ${pod.metadata?.name} (${pod.status?.phase})`);
  const waitingNames = waiting.map((pod) => pod.metadata?.name ?? "");
  const containers = (await double.containers())
    .filter((name) => !waitingNames.some((pod) => pod && name.includes(pod)))
    .map((name) => `container ${name}`);
  return [...pods, ...containers];
}

/**
 * Stops the double, after noting for the global teardown every pod and
 * container of ours it still had (warm ones too): stopping removes them, so
 * without this a leak would go unseen.
 */
export async function stopDouble(double: KubernetesDouble): Promise<void> {
  try {
    const left = await leftovers(double, { includeWarm: true });
    if (left.length > 0) await writeFile(join(inject("kubernetesLeftoverDir"), `${double.instanceId}.json`), JSON.stringify(left));
  } finally {
    await double.stop();
  }
}

const PIDS =
  "the double's pids limit standing in for the kubelet's podPidsLimit, a node setting a pod spec cannot carry (set it on the nodes that run sandboxes)";
const SECCOMP =
  "the double's kubelet loading deploy/seccomp/code-interpreter.json as the pods' Localhost profile; on a cluster it must be installed on every node that runs sandboxes (deploy/README.md), or pods fall back to the runtime's own RuntimeDefault";
/** The syscall policy's tests, and the others a seccomp profile decides. */
const SECCOMP_TESTS = [...SYSCALL_TESTS, "runs under a seccomp filter", "is refused ptrace of a session's pid 1 and of its runner"];
const NO_NETWORK = (what: string) =>
  `the double's pods have no network at all; on a cluster ${what} is stopped by the lockdown init container (which the double skips) or a NetworkPolicy (which it does not enforce)`;
const INODES =
  "a memory-backed emptyDir has no inode limit (the kubelet mounts its tmpfs with a size only): files are bounded by the pod's memory limit, which their inodes are charged to, so code is OOM-killed rather than refused with ENOSPC";

/**
 * Hostile tests the Kubernetes backend fails on the double's Docker pods, with
 * why: controls Kubernetes cannot express. The README lists them.
 */
export const HOSTILE_GAPS: Readonly<Record<string, string>> = {
  "limits the inodes of /workspace": INODES,
  "limits the inodes of /tmp": INODES,
};

/**
 * Hostile tests that pass on the double's Docker pods only because the double
 * stands in for something outside the backend, with what stands in.
 */
export const HOSTILE_ASSUMES: Readonly<Record<string, string>> = {
  "contains a fork bomb": PIDS,
  "contains a thread bomb": PIDS,
  "does not let a fork bomb in one sandbox starve another": PIDS,
  "keeps a session usable after a fork bomb in one of its commands": PIDS,
  ...Object.fromEntries(SECCOMP_TESTS.map((name) => [name, SECCOMP])),
  "cannot reach the host, its loopback or the cloud metadata service": NO_NETWORK("egress"),
  "cannot resolve names": NO_NETWORK("DNS"),
};

const NO_SIZE = "the double's process pods bind each emptyDir to a host directory with no sizeLimit";
const PROCESS_SECCOMP =
  "the double's process runtime compiling deploy/seccomp/code-interpreter.json, the pods' Localhost profile, into bubblewrap's seccomp filter; on a cluster the runtime loads the file installed on the nodes (deploy/README.md)";

/**
 * Hostile tests the Kubernetes backend fails on the double's process pods:
 * those of the Docker pods, and what that runtime does not model.
 */
export const HOSTILE_PROCESS_GAPS: Readonly<Record<string, string>> = {
  "limits the inodes of /workspace": `${NO_SIZE} or inode limit`,
  "limits the inodes of /tmp": `${NO_SIZE} or inode limit`,
  "stops a disk fill of /workspace at its size": NO_SIZE,
  "stops a disk fill of /tmp at its size": NO_SIZE,
  "stops /dev/shm at a size": "bubblewrap's /dev/shm has no size (a container runtime gives each container 64 MiB)",
};

/** Hostile tests that pass on the double's process pods only because the double stands in for something outside the backend. */
export const HOSTILE_PROCESS_ASSUMES: Readonly<Record<string, string>> = {
  "contains a fork bomb": PIDS,
  "contains a thread bomb": PIDS,
  "does not let a fork bomb in one sandbox starve another": PIDS,
  "keeps a session usable after a fork bomb in one of its commands": PIDS,
  ...Object.fromEntries(SECCOMP_TESTS.map((name) => [name, PROCESS_SECCOMP])),
  "cannot reach the host, its loopback or the cloud metadata service": NO_NETWORK("egress"),
  "cannot resolve names": NO_NETWORK("DNS"),
};

/**
 * The shared backend contract suite against the double, its pods on `runtime`: Docker containers
 * (contract.test.ts) or bubblewrap sandboxes on this host (contract-process.test.ts). One suite, two runs,
 * each in its own file so either can run alone; skipped (failing under CI=true) where its runtime is missing.
 * With `sandboxRuntime: "gvisor"` (contract.gvisor.test.ts) the backend names deploy/runtimeclass.yaml's
 * RuntimeClass, and the double runs its pods on Docker's runsc; `sections` picks what runs.
 */
export async function describeKubernetesContract(
  runtime: "docker" | "process",
  options: { sandboxRuntime?: "default" | "gvisor"; sections?: SuiteSections } = {},
): Promise<void> {
  const gvisor = options.sandboxRuntime === "gvisor";
  const name = gvisor ? "kubernetes (gVisor pods)" : runtime === "docker" ? "kubernetes" : "kubernetes (process pods)";
  const available = gvisor ? await gvisorAvailable() : runtime === "docker" ? await dockerAvailable() : bwrapAvailable();
  if (!available) {
    const missing = gvisor
      ? "Docker engine with runsc and the executor image"
      : runtime === "docker"
        ? "Docker engine or executor image"
        : "bubblewrap or sandbox environment";
    describe.skip(`${name} backend contract (no ${missing} for the double)`, () => {
      it(`runs against the Kubernetes API double with pods on ${runtime}`, () => {});
    });
    return;
  }
  // gVisor pods with the profile deploy/README.md asks for: under runsc with --oci-seccomp the runtime's own
  // default profile (Docker 20.10's refuses clone3 with ENOSYS) would stop every thread from starting.
  const double: KubernetesDouble = await startDouble({ runtime, ...(gvisor ? { seccompProfileRoot: SECCOMP_ROOT } : {}) });
  afterAll(() => stopDouble(double));
  if (gvisor) await applyRuntimeClass(double);
  describeBackendContract({
    name,
    createBackend: (settings) =>
      createTestBackend(double, {
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
        pool: TEST_POOL,
        sessionPool: TEST_POOL,
        ...(gvisor
          ? {
              sandboxRuntime: "gvisor",
              podStartTimeoutMs: GVISOR_START_TIMEOUT_MS,
              seccompProfile: { type: "Localhost", localhostProfile: LOCALHOST_SECCOMP_PROFILE },
            }
          : {}),
      }),
    listLeftovers: () => leftovers(double),
    ...(options.sections ? { sections: options.sections } : {}),
    additionalTests: (getBackend) => {
      it(`runs on the double's ${runtime} runtime`, () => {
        expect(double.runtimeName).toBe(runtime);
      });
      if (gvisor) {
        it("runs its pods under gVisor: the gvisor RuntimeClass, the runtime label, gVisor's kernel seen from inside, and its seccomp profile loaded", async () => {
          const backend = getBackend();
          expect(backend.capabilities.runtime).toBe("gvisor");
          const session = await backend.createSession({ ttlSeconds: 120, files: [] });
          try {
            const pod = double.pod(namespace, session.id);
            expect(pod?.spec?.runtimeClassName).toBe("gvisor");
            expect(pod?.metadata?.labels?.["code-interpreter.runtime"]).toBe("gvisor");
            expect(pod?.spec?.securityContext?.seccompProfile).toEqual({
              type: "Localhost",
              localhostProfile: GVISOR_LOCALHOST_SECCOMP_PROFILE,
            });
            // gVisor's Sentry answers /proc/version with its own (fictional) kernel, never the host's. (Its
            // kernel log says so too, but syslog is refused by the policy a session's commands run under.)
            const result = await backend.runInSession({
              sessionId: session.id,
              language: "bash",
              code: "cat /proc/version",
              timeoutMs: 20_000,
            });
            expect(result.stdout).toBe("Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016\n");
            // runsc (--oci-seccomp) loaded the profile into the pod's first process, the kernel loaded the policy
            // on itself (exec'd processes get none from runsc), and threads still start under both (no clone3 rule).
            const filtered = await backend.runInSession({
              sessionId: session.id,
              language: "python",
              code: "import threading\nt = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\nfor pid in ('1', 'self'):\n    print([l for l in open(f'/proc/{pid}/status') if l.startswith('Seccomp:')][0].split()[1])",
              timeoutMs: 20_000,
            });
            expect(filtered.stdout).toBe("thread\n2\n2\n");
          } finally {
            await backend.deleteSession(session.id);
          }
        });
      }
    },
  });
}

/** gVisor pods start more slowly (runsc's sandbox and gofer, ptrace platform): room for that on a loaded machine. */
export const GVISOR_START_TIMEOUT_MS = 90_000;

/**
 * The double's pids limit for gVisor pods: under runsc the pod's cgroup holds gVisor's own Sentry and
 * gofer threads and, on the ptrace platform, host tasks backing each of the code's processes (4 to 16
 * per process, measured), not the code's processes themselves, which gVisor's RLIMIT_NPROC bounds
 * (`maxProcesses`). So it is a backstop above what the hostile suite's 64 processes need, as the Docker
 * backend's pids limit under gVisor is (64 + 16 per process); a limit as low as 64 stops runsc from
 * starting at all, as it would on a node whose podPidsLimit is that low.
 */
export const GVISOR_POD_PIDS_LIMIT = 64 + 16 * HOSTILE_SETTINGS.maxProcesses;

const GVISOR_PROC_STATUS =
  "gVisor's /proc/self/status is its own kernel's: it shows gVisor's capability sets and no NoNewPrivs line (runsc release 20221219), so the check cannot read what the pod's securityContext set; those capabilities are gVisor's, not the node's";
const GVISOR_SIGNALS =
  "observed under gVisor on the double (runsc 20221219, ptrace): signalling every process and a detached daemon's end behave differently in gVisor's kernel than in Linux's (the runners rely on kill(-1) and a subreaper); not yet investigated further";
const GVISOR_SOCKET_EPERM =
  "gVisor (--network=none) refuses the family itself with EPERM before the filter's EAFNOSUPPORT (measured on the double with the profile loaded): refused all the same";

/** Hostile tests the Kubernetes backend fails with gVisor pods on the double, with why (from a GVISOR_SUITE=full run). */
export const GVISOR_HOSTILE_GAPS: Readonly<Record<string, string>> = {
  ...HOSTILE_GAPS,
  "has no capabilities": GVISOR_PROC_STATUS,
  "cannot gain privileges (no_new_privs)": GVISOR_PROC_STATUS,
  "answers code that signals its runner and every process it can": GVISOR_SIGNALS,
  "keeps a session usable after its code signals every process it can": GVISOR_SIGNALS,
  "does not let a daemon a session command detached outlive the command": GVISOR_SIGNALS,
  "is refused the socket(AF_VSOCK) syscall": GVISOR_SOCKET_EPERM,
  "is refused the socket(AF_PACKET) syscall": GVISOR_SOCKET_EPERM,
  "is refused the socket(AF_NETLINK) syscall": GVISOR_SOCKET_EPERM,
};

const GVISOR_SECCOMP =
  "the double's kubelet loading deploy/seccomp/code-interpreter-gvisor.json (the backend's choice for gVisor pods) as the pods' Localhost profile, and Docker's runsc runtime applying it with --oci-seccomp; on a cluster the profile must be installed on the nodes and their runsc handler configured with oci-seccomp (deploy/README.md), or gVisor runs the code with no seccomp filter of ours";

/** The fork bomb tests: under gVisor the runner's RLIMIT_NPROC holds them, which gVisor's kernel counts per pod. */
const FORK_BOMB_TESTS = [
  "contains a fork bomb",
  "contains a thread bomb",
  "does not let a fork bomb in one sandbox starve another",
  "keeps a session usable after a fork bomb in one of its commands",
];

/** Hostile tests that pass with gVisor pods on the double only because the double stands in for something outside the backend. */
export const GVISOR_HOSTILE_ASSUMES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries({ ...HOSTILE_ASSUMES, ...Object.fromEntries(SECCOMP_TESTS.map((name) => [name, GVISOR_SECCOMP])) }).filter(
    ([name]) => !(name in GVISOR_HOSTILE_GAPS) && !FORK_BOMB_TESTS.includes(name),
  ),
);
