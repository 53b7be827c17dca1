import { onCleanup } from "./cleanup.ts";
import { bwrap, dockerRun, dockerRunThenExec, engineCycleRate, rawBwrap, withRunningContainer } from "./floors.ts";
import { kubernetesFloors, type PodCyclePhases } from "./kubernetes-floors.ts";
import type { KubernetesTarget } from "./kubernetes-target.ts";
import { type Latency, latency, selfTimed, sequential } from "./stats.ts";

/** `import pandas` and use it: one-shot, raw floor and session. */
export const PANDAS = "import pandas\npandas.DataFrame({'a': [1]}).sum()";

/** The first command of "create to first result" (ComputeSDK's method), as the raw floors run it. */
export const ECHO_HI = ["bash", "-c", "echo hi"];

/** The raw floors of one backend, measured in this run, and the targets the issue sets against them. */
export interface BackendFloors {
  /** `print(1)` with a fresh sandbox per run, without the service. */
  print: Latency;
  /** {@link PANDAS} the same way. */
  pandas?: Latency;
  /** One command in an already running sandbox: `python3 -c 1+1`, `bash -c true`. */
  execPython?: Latency;
  execBash?: Latency;
  /** The raw fresh-sandbox rate at concurrency 16, measured when asked (it loads the machine). */
  cycleRate?: () => Promise<{ perSecond: number }>;
  /** Where a raw pod cycle's time goes (kubernetes): create until Running, the exec, the delete. */
  podCycle?: { start: Latency; exec: Latency; remove: Latency };
  /** A fresh sandbox started and {@link ECHO_HI} run in it, without the service: the floor of create to first result. */
  firstResult: Latency;
  /** What `firstResult` measures, for the table. */
  firstResultName: string;
  /** What `cycleRate` measures, for the table. */
  cycleName?: string;
  targets: { print?: string; pandas?: string; python?: string; bash?: string; rate?: string };
}

export interface FloorOptions {
  image: string;
  count: number;
  seconds: number;
  /** Samples of the create-to-first-result floor. */
  firstResultCount: number;
  kubernetes?: KubernetesTarget;
}

/** Measures the floors of `backend` now, on this machine. */
export async function measureFloors(backend: string, options: FloorOptions): Promise<BackendFloors> {
  const { image, count, seconds, firstResultCount } = options;
  const oneLine = PANDAS.replace("\n", ";");
  if (backend === "docker") {
    return {
      print: latency(await sequential(Math.min(count, 15), dockerRun(image, "print(1)"))),
      pandas: latency(await sequential(Math.min(count, 10), dockerRun(image, oneLine))),
      ...(await withRunningContainer(image, async (exec) => ({
        execPython: latency(await sequential(count, exec(["python3", "-c", "1+1"]))),
        execBash: latency(await sequential(count, exec(["bash", "-c", "true"]))),
      }))),
      firstResult: latency(await selfTimed(firstResultCount, dockerRunThenExec(image, ECHO_HI))),
      firstResultName: "docker run -d + docker exec",
      cycleRate: () => engineCycleRate(image, 16, seconds),
      cycleName: "engine create+start+remove",
      targets: { print: "≤ 0.15", pandas: "≤ 0.3", python: "≤ 0.2", bash: "≤ 0.2", rate: "≥ 0.8" },
    };
  }
  if (backend === "kubernetes") {
    if (!options.kubernetes) throw new Error("the kubernetes floors need the Kubernetes double");
    const floors = kubernetesFloors(options.kubernetes.kubeConfig, options.kubernetes.namespace, image);
    onCleanup(floors.stop); // before the double stops (clean-up runs newest first)
    const phases: PodCyclePhases = { start: [], exec: [], remove: [] };
    const [execPython, execBash] = await floors.withRunningPod(async (exec) => [
      latency(await sequential(count, exec(["python3", "-c", "1+1"]))),
      latency(await sequential(count, exec(["bash", "-c", "true"]))),
    ]);
    return {
      print: latency(await sequential(Math.min(count, 15), floors.podCycle("print(1)", phases))),
      pandas: latency(await sequential(Math.min(count, 10), floors.podCycle(oneLine))),
      firstResult: latency(await selfTimed(firstResultCount, floors.podToFirstResult(ECHO_HI))),
      firstResultName: "raw pod create→Running + exec",
      podCycle: { start: latency(phases.start), exec: latency(phases.exec), remove: latency(phases.remove) },
      execPython,
      execBash,
      cycleRate: () => floors.podCycleRate(16, seconds),
      cycleName: "raw pod create→exec→delete",
      // The Docker targets, carried over: it sets none of its own for Kubernetes.
      targets: { print: "≤ 0.15", pandas: "≤ 0.3", python: "≤ 0.2", rate: "≥ 0.8" },
    };
  }
  return {
    print: latency(await sequential(count, rawBwrap("print(1)"))),
    firstResult: latency(await sequential(firstResultCount, bwrap(ECHO_HI))),
    firstResultName: "bwrap + bash",
    targets: { print: "≤ 2" },
  };
}
