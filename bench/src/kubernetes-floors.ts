import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { CoreV1Api, Exec, type KubeConfig, type V1Pod, type V1Status } from "@kubernetes/client-node";
import { sustained } from "./stats.ts";

// The raw Kubernetes floors, with the real client and no service in between:
// what a pod per request costs, and what one exec into a running pod costs.
// No watch (neither the double nor the backend uses one): a pod is polled
// until Running, more often than the backend polls, so the floor is not
// inflated by the polling.
const POLL_MS = 50;
const START_TIMEOUT_MS = 60_000;
const EXEC_TIMEOUT_MS = 60_000;
const CONTAINER = "main";

/** Milliseconds spent in each part of raw pod cycles. */
export interface PodCyclePhases {
  /** Create, then poll until Running. */
  start: number[];
  exec: number[];
  /** Delete with grace period 0 (the double answers once the containers are removed). */
  remove: number[];
}

/** The raw pod floors against one API server, in one namespace, with one image. */
export function kubernetesFloors(kubeConfig: KubeConfig, namespace: string, image: string) {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const exec = new Exec(kubeConfig);
  // Once stopping, no new pod or exec: a pod created while the double stops would outlive it.
  let stopping = false;
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: () => Promise<T>): Promise<T> => {
    const running = work();
    inFlight.add(running);
    void running.catch(() => {}).finally(() => inFlight.delete(running));
    return running;
  };
  const refuseWhenStopping = () => {
    if (stopping) throw new Error("the benchmark is stopping");
  };

  const createRunning = async (): Promise<string> => {
    refuseWhenStopping();
    const name = `bench-floor-${randomUUID()}`;
    await core.createNamespacedPod({ namespace, body: floorPod(name, image) });
    try {
      await waitForRunning(core, namespace, name, refuseWhenStopping);
    } catch (error) {
      await remove(name);
      throw error;
    }
    return name;
  };
  const remove = async (name: string) => {
    await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
  };
  const run = (pod: string, command: string[]) => {
    refuseWhenStopping();
    return execToEnd(exec, namespace, pod, command);
  };
  const cycle = (code: string, phases?: PodCyclePhases) =>
    track(async () => {
      let mark = performance.now();
      const lap = (into: number[] | undefined) => {
        const now = performance.now();
        into?.push(now - mark);
        mark = now;
      };
      const pod = await createRunning();
      lap(phases?.start);
      try {
        await run(pod, ["python3", "-c", code]);
        lap(phases?.exec);
      } finally {
        await remove(pod);
        lap(phases?.remove);
      }
    });

  return {
    /**
     * One cycle: create a pod, wait until Running, exec `python3 -c <code>`,
     * delete it (grace period 0). With `phases`, each part's time is added to it.
     */
    podCycle: (code: string, phases?: PodCyclePhases) => () => cycle(code, phases),
    /**
     * The raw floor of a session's create to first result: create a pod, wait
     * until Running, exec `command`; resolves to the milliseconds that took.
     * The delete after it is not timed (as the session's delete is not).
     */
    podToFirstResult: (command: string[]) => () =>
      track(async () => {
        const started = performance.now();
        const pod = await createRunning();
        try {
          await run(pod, command);
          return performance.now() - started;
        } finally {
          await remove(pod);
        }
      }),
    /** Pod cycles of `print(1)` from `concurrency` loops for `seconds`. */
    podCycleRate: (concurrency: number, seconds: number) =>
      sustained(
        concurrency,
        seconds,
        () => cycle("print(1)"),
        () => stopping,
      ),
    /** Runs `body` with one running pod; `exec(command)` makes a call that execs `command` into it. */
    withRunningPod: <T>(body: (exec: (command: string[]) => () => Promise<void>) => Promise<T>): Promise<T> =>
      track(async () => {
        const pod = await createRunning();
        try {
          return await body((command) => () => run(pod, command));
        } finally {
          await remove(pod);
        }
      }),
    /** Makes no more pods or execs, and waits until those under way have ended and their pods are deleted. */
    stop: async () => {
      stopping = true;
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** A plain pod that waits to be exec'd into: the executor image, no service-specific spec. */
function floorPod(name: string, image: string): V1Pod {
  return {
    metadata: { name, labels: { "code-interpreter.bench": "floor" } },
    spec: {
      restartPolicy: "Never",
      activeDeadlineSeconds: 900,
      containers: [{ name: CONTAINER, image, command: ["sleep", "900"] }],
    },
  };
}

async function waitForRunning(core: CoreV1Api, namespace: string, name: string, check: () => void): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (performance.now() < deadline) {
    check();
    const pod = await core.readNamespacedPod({ name, namespace });
    const phase = pod.status?.phase;
    if (phase === "Running") return;
    if (phase === "Failed" || phase === "Succeeded") throw new Error(`floor pod ${name} ended (${phase}) before it ran`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`floor pod ${name} was not Running within ${START_TIMEOUT_MS / 1000} s`);
}

/**
 * Execs `command` and waits until the socket closes, after the status on
 * channel 3 (`Exec.exec` resolves when the socket opens); fails unless the
 * command succeeded.
 */
async function execToEnd(exec: Exec, namespace: string, pod: string, command: string[]): Promise<void> {
  let output = "";
  const sink = () =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        output += chunk.toString();
        callback();
      },
    });
  let status: V1Status | undefined;
  const socket = await exec.exec(namespace, pod, CONTAINER, command, sink(), sink(), null, false, (value) => {
    status = value;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      if (socket.readyState === socket.CLOSED) resolve();
      socket.once("close", () => resolve());
      timer = setTimeout(
        () => reject(new Error(`exec ${command.join(" ")} did not end within ${EXEC_TIMEOUT_MS / 1000} s`)),
        EXEC_TIMEOUT_MS,
      );
    });
  } finally {
    clearTimeout(timer);
    socket.terminate();
  }
  if (status?.status !== "Success") {
    throw new Error(`exec ${command.join(" ")} failed: ${status ? (status.message ?? status.reason) : "no status"} ${output}`);
  }
}
