import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { stateDir } from "@code-interpreter/test-support";
import { describeSnapshotContract, describeSnapshotHostile, describeSnapshotReplicas } from "@code-interpreter/test-support/snapshots";
import { afterAll, describe, it } from "vitest";
import { DOUBLE_IMAGE, doubleUnavailable } from "./support/double-needs.js";
import { s3SnapshotStore, startSnapshotServer } from "./support/snapshot-servers.js";

// Issue 23's shared snapshot suites on the kubernetes backend: a real server (EXECUTOR_BACKEND=kubernetes,
// KUBECONFIG) over HTTP, through the real @kubernetes/client-node against the Kubernetes API double (no
// cluster can run here; it runs the pods on the local Docker engine). Run under `flock /tmp/heavy-tests.lock`.
const namespace = "code-interpreter-snapshots";
const SECCOMP_ROOT = fileURLToPath(new URL("../../../deploy/seccomp/", import.meta.url));
const unavailable = await doubleUnavailable();
const reason = unavailable && `the Kubernetes snapshot suites need ${unavailable}`;
if (reason && process.env.CI === "true") throw new Error(reason);

if (!reason) {
  // With deploy/seccomp as the node's seccomp root: gVisor pods need the profile deploy/README.md asks for.
  const double = await KubernetesDouble.start({ image: DOUBLE_IMAGE, seccompProfileRoot: SECCOMP_ROOT });
  const dir = await stateDir("ci-snapshots-kubeconfig");
  const kubeconfig = join(dir.path, "kubeconfig");
  await double.writeKubeconfig(kubeconfig);
  // The server reads its kubeconfig as client-node does, from KUBECONFIG in its own environment (this file's worker).
  process.env.KUBECONFIG = kubeconfig;
  afterAll(async () => {
    await double.stop();
    await dir.remove();
  });
  const options = {
    name: "kubernetes",
    startServer: (env: Record<string, string>) =>
      startSnapshotServer("ci-snapshots-kubernetes", {
        EXECUTOR_BACKEND: "kubernetes",
        KUBERNETES_EXECUTOR_NAMESPACE: namespace,
        KUBERNETES_EXECUTOR_IMAGE: DOUBLE_IMAGE,
        ...env,
      }),
    listLeftovers: async () => [
      ...double.listPods(namespace).map((pod) => `pod ${pod.metadata?.name}`),
      ...(await double.containers()).map((name) => `container ${name}`),
    ],
  };
  describeSnapshotContract(options);
  describeSnapshotHostile(options);
  // Paused on one replica, resumed on another: both on this backend, sharing the S3 store and the signing key.
  describeSnapshotReplicas({ ...options, sharedStore: s3SnapshotStore });
  // The contract again with gvisor sessions: their pods name the gvisor RuntimeClass, which the double runs on
  // Docker's runsc runtime as a node with gVisor would (no Kubernetes API restores a checkpoint into a pod, so
  // the suite checks the fresh-kernel notice).
  // deploy/runtimeclass.yaml's RuntimeClass, as an operator applies it.
  double.addRuntimeClass("gvisor", "runsc");
  describeSnapshotContract({
    ...options,
    name: "kubernetes (gvisor)",
    runtime: "gvisor",
    startServer: (env: Record<string, string>) =>
      options.startServer({
        SANDBOX_RUNTIMES: "default,gvisor",
        // The shipped profile; gVisor's pods get its gVisor variant (under runsc, Docker's default profile
        // refuses what the runtime needs: code could not even wait on its stdin).
        KUBERNETES_EXECUTOR_SECCOMP_PROFILE: "localhost/code-interpreter.json",
        ...env,
      }),
  });
} else {
  describe.skip(`snapshot suites on the kubernetes backend (${reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
