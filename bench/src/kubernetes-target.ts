import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { removeLabelled } from "@code-interpreter/test-support";
import type { KubeConfig } from "@kubernetes/client-node";
import Dockerode from "dockerode";

/** Namespace of every pod the kubernetes benchmark makes (the server's and the floors'). */
export const BENCH_NAMESPACE = "code-interpreter-bench";
/** Labels on the double's Docker containers: which benchmark, and the pid of the run that owns them. */
const BENCH_LABEL = "code-interpreter.bench";
const PID_LABEL = "code-interpreter.bench.pid";
/** Temp directories holding a run's kubeconfig: `<prefix><pid>-<random>`. */
const DIR_PREFIX = "ci-bench-kube-";

/** The Kubernetes API double the benchmark's server and floors talk to, and how to reach it. */
export interface KubernetesTarget {
  double: KubernetesDouble;
  kubeConfig: KubeConfig;
  namespace: string;
  /** Environment for the server: KUBECONFIG (a temp file), EXECUTOR_BACKEND, namespace and image. */
  env: Record<string, string>;
  /** Stops the double (removing every pod and container) and deletes the kubeconfig. */
  stop(): Promise<void>;
}

/** deploy/seccomp, as the double's node seccomp root: gVisor pods need the profile deploy/README.md asks for. */
const SECCOMP_ROOT = fileURLToPath(new URL("../../deploy/seccomp/", import.meta.url));

/**
 * Starts the Kubernetes API double on loopback with pods as Docker
 * containers of `image` (no cluster can run here), and writes a kubeconfig
 * for it. Containers an earlier run left when it was killed outright are
 * removed first. With `gvisor`, the double has deploy/runtimeclass.yaml's
 * RuntimeClass (run on Docker's runsc) and the server's pods the shipped
 * seccomp profile, as deploy/README.md sets a cluster up.
 */
export async function startKubernetesTarget(image: string, options: { gvisor?: boolean } = {}): Promise<KubernetesTarget> {
  const docker = new Dockerode();
  await docker
    .getImage(image)
    .inspect()
    .catch((error: Error) => {
      throw new Error(`--backend kubernetes runs pods as Docker containers of ${image}: ${error.message}`);
    });
  await removeLeftovers(docker);
  const double = await KubernetesDouble.start({
    runtime: "docker",
    image,
    docker,
    labels: { [BENCH_LABEL]: "kubernetes", [PID_LABEL]: String(process.pid) },
    ...(options.gvisor ? { seccompProfileRoot: SECCOMP_ROOT } : {}),
  });
  if (options.gvisor) double.addRuntimeClass("gvisor", "runsc");
  const kubeConfig = double.kubeConfig(BENCH_NAMESPACE);
  const dir = await mkdtemp(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const path = join(dir, "kubeconfig");
  await writeFile(path, kubeConfig.exportConfig(), { mode: 0o600 });
  return {
    double,
    kubeConfig,
    namespace: BENCH_NAMESPACE,
    env: {
      KUBECONFIG: path,
      EXECUTOR_BACKEND: "kubernetes",
      KUBERNETES_EXECUTOR_NAMESPACE: BENCH_NAMESPACE,
      KUBERNETES_EXECUTOR_IMAGE: image,
      ...(options.gvisor ? { KUBERNETES_EXECUTOR_SECCOMP_PROFILE: "localhost/code-interpreter.json" } : {}),
    },
    stop: async () => {
      try {
        await double.stop();
        // The double removes its containers; this catches one it lost track of.
        const left = await removeContainers(docker, (labels) => labels[PID_LABEL] === String(process.pid));
        if (left > 0) console.error(`removed ${left} container(s) the Kubernetes double left behind`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Containers and kubeconfig directories of runs that were killed outright (their pid is gone). */
async function removeLeftovers(docker: Dockerode): Promise<void> {
  const removed = await removeContainers(docker, (labels) => !alive(Number(labels[PID_LABEL])));
  const dirs = (await readdir(tmpdir())).filter(
    (name) => name.startsWith(DIR_PREFIX) && !alive(Number(name.slice(DIR_PREFIX.length).split("-")[0])),
  );
  await Promise.all(dirs.map((name) => rm(join(tmpdir(), name), { recursive: true, force: true })));
  if (removed + dirs.length > 0) console.error(`removed ${removed} container(s) and ${dirs.length} kubeconfig(s) a killed run left`);
}

/** Force-removes the benchmark's double containers whose labels match; returns how many. */
async function removeContainers(docker: Dockerode, matches: (labels: Record<string, string>) => boolean): Promise<number> {
  const removed = await removeLabelled([`${BENCH_LABEL}=kubernetes`], {
    engine: docker,
    ignore: (container) => !matches(container.Labels),
  });
  return removed.length;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
