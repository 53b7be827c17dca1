import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { APP_LABEL } from "@code-interpreter/core";
import { KubernetesDouble, type KubernetesDoubleOptions } from "@code-interpreter/kubernetes-double";
import Dockerode from "dockerode";
import { inject } from "vitest";
import { createKubernetesBackend, DEFAULT_EXECUTOR_IMAGE, type KubernetesBackend, type KubernetesBackendSettings } from "../src/index.js";
import { TEST_RUN_LABEL } from "./labels.js";

export const image = process.env.KUBERNETES_EXECUTOR_IMAGE || process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || DEFAULT_EXECUTOR_IMAGE;
export const namespace = "code-interpreter-test";

/**
 * Whether the double can run pods here (a Docker engine and the executor
 * image). Under CI=true their absence fails the file; locally the tests are
 * skipped with the reason.
 */
export async function dockerAvailable(): Promise<boolean> {
  const docker = new Dockerode();
  let reason: string | undefined;
  try {
    await docker.ping();
    await docker.getImage(image).inspect();
  } catch (error) {
    reason = `a Docker engine and the executor image ${image} are needed to run pods in the Kubernetes double (${(error as Error).message})`;
  }
  if (!reason) return true;
  if (process.env.CI === "true") throw new Error(reason);
  console.warn(`Skipping Kubernetes backend tests: ${reason}`);
  return false;
}

/**
 * Whether the double's process runtime can run pods here (bubblewrap and
 * the host's /usr/bin/python3). Under CI=true their absence fails the file.
 */
export function bwrapAvailable(): boolean {
  const bwrap = spawnSync("bwrap", ["--version"]);
  const reason =
    bwrap.status !== 0 ? "bubblewrap (bwrap) is needed" : !existsSync("/usr/bin/python3") ? "/usr/bin/python3 is needed" : undefined;
  if (!reason) return true;
  if (process.env.CI === "true") throw new Error(`${reason} to run pods in the Kubernetes double's process runtime`);
  console.warn(`Skipping Kubernetes process-runtime tests: ${reason}`);
  return false;
}

/** A double whose containers carry this run's label (checked at the end of the run). */
export function startDouble(options: KubernetesDoubleOptions = {}): Promise<KubernetesDouble> {
  return KubernetesDouble.start({ ...options, labels: { [TEST_RUN_LABEL]: inject("kubernetesTestRun") } });
}

/** Backend settings for tests: the double, the test namespace and image, short start timeouts. */
export type TestOverrides = Partial<KubernetesBackendSettings> & { ownerDeployment?: string };

export function testSettings(double: KubernetesDouble, extra: TestOverrides = {}): TestOverrides {
  return { kubeConfig: double.kubeConfig(namespace), namespace, image, podStartTimeoutMs: 30_000, ...extra };
}

export function createTestBackend(double: KubernetesDouble, extra: TestOverrides = {}): Promise<KubernetesBackend> {
  return createKubernetesBackend(testSettings(double, extra));
}

/** Pods of ours still stored by the double, and containers it still has, by name. */
export async function leftovers(double: KubernetesDouble): Promise<string[]> {
  const pods = double
    .listPods(namespace)
    .filter((pod) => pod.metadata?.labels?.[APP_LABEL.key] === APP_LABEL.value)
    .map((pod) => `pod ${pod.metadata?.name} (${pod.status?.phase})`);
  const containers = (await double.containers()).map((name) => `container ${name}`);
  return [...pods, ...containers];
}
