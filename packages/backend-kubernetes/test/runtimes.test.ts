import { BackendUnavailableError, SessionNotFoundError } from "@code-interpreter/core";
import { newSessionId, RUNTIME_LABEL_KEY, unixNow } from "@code-interpreter/core/sandbox";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { NodeV1Api } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  defaultKubernetesBackendSettings,
  execPodSpec,
  GVISOR_RUNTIME_CLASS,
  type KubernetesBackendSettings,
  sessionPodSpec,
} from "../src/index.js";
import { applyRuntimeClass, bwrapAvailable, createTestBackend, leftovers, namespace, startDouble, stopDouble } from "./support.js";

const settings = (extra: Partial<KubernetesBackendSettings> = {}) =>
  ({ ...defaultKubernetesBackendSettings(), namespace, ...extra }) as KubernetesBackendSettings;

describe("sandbox runtimes in the pod spec", () => {
  it("gives gVisor pods the gvisor RuntimeClass unless another is set, and the runtime label", () => {
    const gvisor = sessionPodSpec(settings({ sandboxRuntime: "gvisor" }), newSessionId(), unixNow() + 60);
    expect(gvisor.spec?.runtimeClassName).toBe(GVISOR_RUNTIME_CLASS);
    expect(gvisor.metadata?.labels?.[RUNTIME_LABEL_KEY]).toBe("gvisor");
    const named = execPodSpec(settings({ sandboxRuntime: "gvisor", runtimeClassName: "gvisor-ptrace" }), "code-exec-x", ["python3"], {
      seconds: 60,
      at: unixNow() + 60,
    });
    expect(named.spec?.runtimeClassName).toBe("gvisor-ptrace");
    expect(named.metadata?.labels?.[RUNTIME_LABEL_KEY]).toBe("gvisor");
  });

  it("leaves default pods on the cluster's default runtime unless a RuntimeClass is set, labelled default", () => {
    const plain = sessionPodSpec(settings(), newSessionId(), unixNow() + 60);
    expect(plain.spec?.runtimeClassName).toBeUndefined();
    expect(plain.metadata?.labels?.[RUNTIME_LABEL_KEY]).toBe("default");
    expect(sessionPodSpec(settings({ runtimeClassName: "kata" }), newSessionId(), unixNow() + 60).spec?.runtimeClassName).toBe("kata");
  });
});

// The process runtime is enough here: these pods only need to exist (and be refused), never to run gVisor.
describe.skipIf(!bwrapAvailable())("a default and a gVisor backend on one cluster", { timeout: 60_000 }, () => {
  let double: KubernetesDouble;
  const sessionPod = (id: string, expiresAt: number, runtime?: string) =>
    double.createPodDirectly(namespace, {
      metadata: {
        name: id,
        labels: { app: "code-interpreter", component: "session", ...(runtime ? { [RUNTIME_LABEL_KEY]: runtime } : {}) },
        annotations: { "code-interpreter.expires-at": String(expiresAt) },
      },
      spec: { restartPolicy: "Never", containers: [{ name: "executor", image: "unused", command: ["sleep", "300"] }] },
    });

  beforeAll(async () => {
    double = await startDouble({ runtime: "process" });
  });
  afterEach(async () => {
    for (const pod of double.listPods(namespace)) {
      await fetch(`${double.url}/api/v1/namespaces/${namespace}/pods/${pod.metadata?.name}`, { method: "DELETE" });
    }
    expect(await leftovers(double)).toEqual([]);
  });
  afterAll(async () => {
    if (double) await stopDouble(double);
  });

  it("say which runtime they are, and each finds, lists and reaps only its own sessions", async () => {
    const standard = await createTestBackend(double);
    const gvisor = await createTestBackend(double, { sandboxRuntime: "gvisor" });
    try {
      expect(standard.capabilities.runtime).toBe("default");
      expect(gvisor.capabilities.runtime).toBe("gvisor");
      // A pod made before runtimes existed has no label: it is the default runtime's.
      const [old, labelled, underGvisor] = [newSessionId(), newSessionId(), newSessionId()];
      await sessionPod(old, unixNow() + 600);
      await sessionPod(labelled, unixNow() + 600, "default");
      await sessionPod(underGvisor, unixNow() + 600, "gvisor");
      expect((await standard.listSessions()).map((session) => session.id).sort()).toEqual([old, labelled].sort());
      expect((await gvisor.listSessions()).map((session) => session.id)).toEqual([underGvisor]);
      await expect(standard.getSession(underGvisor)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
      await expect(gvisor.getSession(old)).rejects.toSatisfy((error) => SessionNotFoundError.isInstance(error));
      expect((await gvisor.getSession(underGvisor)).id).toBe(underGvisor);

      const [expiredDefault, expiredGvisor] = [newSessionId(), newSessionId()];
      await sessionPod(expiredDefault, unixNow() - 10);
      await sessionPod(expiredGvisor, unixNow() - 10, "gvisor");
      expect(await standard.reapExpiredSessions()).toEqual([expiredDefault]);
      expect(double.pod(namespace, expiredGvisor)).toBeDefined();
      expect(await gvisor.reapExpiredSessions()).toEqual([expiredGvisor]);
    } finally {
      await standard.close();
      await gvisor.close();
    }
  });

  it("refuses a gVisor sandbox when the cluster has no gvisor RuntimeClass, saying how to make one, and leaves nothing", async () => {
    const gvisor = await createTestBackend(double, { sandboxRuntime: "gvisor" });
    try {
      const attempt = gvisor.createSession({ ttlSeconds: 60, files: [] });
      await expect(attempt).rejects.toSatisfy((error) => BackendUnavailableError.isInstance(error));
      await expect(attempt).rejects.toThrow(/RuntimeClass "gvisor" not found.*deploy\/runtimeclass\.yaml/);
      expect(double.listPods(namespace)).toEqual([]);
    } finally {
      await gvisor.close();
    }
  });

  it("serves deploy/runtimeclass.yaml's RuntimeClass through the real client, and the process pods refuse its runsc handler", async () => {
    const created = await applyRuntimeClass(double);
    expect(created).toMatchObject({ metadata: { name: GVISOR_RUNTIME_CLASS }, handler: "runsc" });
    const api = double.kubeConfig(namespace).makeApiClient(NodeV1Api);
    expect((await api.readRuntimeClass({ name: GVISOR_RUNTIME_CLASS })).handler).toBe("runsc");
    expect((await api.listRuntimeClass()).items.map((item) => item.metadata?.name)).toEqual([GVISOR_RUNTIME_CLASS]);
    await expect(api.createRuntimeClass({ body: created })).rejects.toMatchObject({ code: 409 });
    await expect(api.readRuntimeClass({ name: "kata" })).rejects.toMatchObject({ code: 404 });
    // Bubblewrap sandboxes have no OCI runtime to hand to runsc: the pod stays Pending, and the start fails fast with why.
    const gvisor = await createTestBackend(double, { sandboxRuntime: "gvisor" });
    try {
      await expect(gvisor.createSession({ ttlSeconds: 60, files: [] })).rejects.toThrow(
        /CreateContainerConfigError: the double's process runtime has no runtime handler "runsc"/,
      );
      expect(double.listPods(namespace)).toEqual([]);
    } finally {
      await gvisor.close();
    }
  });
});
