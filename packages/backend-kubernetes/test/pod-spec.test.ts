import { RUNTIME_LABEL_KEY } from "@code-interpreter/core/sandbox";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  defaultKubernetesBackendSettings,
  execPodSpec,
  GVISOR_LOCALHOST_SECCOMP_PROFILE,
  type KubernetesBackend,
  type KubernetesBackendSettings,
  kubernetesEngineOptions,
  LOCALHOST_SECCOMP_PROFILE,
  parseSeccompProfile,
  sessionPodSpec,
} from "../src/index.js";
import { createTestBackend, dockerAvailable, leftovers, namespace, startDouble, stopDouble } from "./support.js";

const available = await dockerAvailable();

describe.skipIf(!available)("kubernetes pod spec, as the API server stores it", { timeout: 60_000 }, () => {
  let double: KubernetesDouble;
  let backend: KubernetesBackend;
  let sessionPod: V1Pod;
  let execPod: V1Pod | undefined;
  const owner = { apiVersion: "apps/v1", kind: "Deployment", name: "code-interpreter", uid: "" };

  beforeAll(async () => {
    double = await startDouble();
    owner.uid = double.addDeployment(namespace, "code-interpreter").uid;
    // A RuntimeClass of the node's default runtime: the API server admits only pods naming one that exists.
    double.addRuntimeClass("sandboxed", "runc");
    backend = await createTestBackend(double, {
      ownerDeployment: "code-interpreter",
      serviceAccountName: "code-interpreter-sandbox",
      runtimeClassName: "sandboxed",
      memoryLimitMb: 300,
      cpus: 0.5,
      workspaceSizeMb: 64,
      ephemeralStorageMb: 100,
      sessionMaxLifetimeSeconds: 7200,
    });
    const session = await backend.createSession({ ttlSeconds: 600, files: [] });
    sessionPod = double.pod(namespace, session.id) as V1Pod;
    // The one-shot pod is gone once execute returns: catch it while it runs.
    const seen = backend.execute({ code: "import time\ntime.sleep(1.5)", timeoutMs: 10_000, lastLineInteractive: false, files: [] });
    for (let attempt = 0; attempt < 100 && !execPod; attempt++) {
      execPod = double.listPods(namespace).find((pod) => pod.metadata?.labels?.component === "exec");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await seen;
    await backend.deleteSession(session.id);
  });
  afterAll(async () => {
    await backend?.close();
    if (double) await stopDouble(double);
  });

  it("runs as uid and gid 65532, non-root, with the RuntimeDefault seccomp profile", () => {
    for (const pod of [sessionPod, execPod]) {
      expect(pod?.spec?.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        fsGroup: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(pod?.spec?.containers[0]?.securityContext).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
    }
  });

  it("mounts size-limited emptyDir volumes at /workspace and /tmp", () => {
    expect(sessionPod.spec?.volumes).toEqual(
      expect.arrayContaining([
        { name: "workspace", emptyDir: { medium: "Memory", sizeLimit: "64Mi" } },
        { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "64Mi" } },
      ]),
    );
    expect(sessionPod.spec?.containers[0]?.volumeMounts).toEqual([
      { name: "workspace", mountPath: "/workspace" },
      { name: "tmp", mountPath: "/tmp" },
    ]);
  });

  it("requests and limits memory, cpu and ephemeral storage", () => {
    expect(sessionPod.spec?.containers[0]?.resources).toEqual({
      requests: { cpu: "0.25", memory: "300Mi", "ephemeral-storage": "100Mi" },
      limits: { cpu: "0.5", memory: "300Mi", "ephemeral-storage": "100Mi" },
    });
  });

  it("gives the pod no API token, no service links, no cluster DNS and no restarts", () => {
    expect(sessionPod.spec).toMatchObject({
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      dnsPolicy: "None",
      dnsConfig: { nameservers: ["127.0.0.1"] },
      restartPolicy: "Never",
      serviceAccountName: "code-interpreter-sandbox",
      runtimeClassName: "sandboxed",
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
    });
  });

  it("locks down egress in a NET_ADMIN init container, the one exception to the restricted profile", () => {
    const [init, ...others] = sessionPod.spec?.initContainers ?? [];
    expect(others).toEqual([]);
    expect(init?.securityContext).toMatchObject({
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
    });
    expect(init?.command?.join(" ")).toContain("OUTPUT DROP");
  });

  it("names, labels and annotates session and one-shot pods", () => {
    expect(sessionPod.metadata?.name).toMatch(/^code-session-[0-9a-f-]{36}$/);
    expect(sessionPod.metadata?.labels).toMatchObject({ app: "code-interpreter", component: "session", [RUNTIME_LABEL_KEY]: "default" });
    expect(Number(sessionPod.metadata?.annotations?.["code-interpreter.expires-at"])).toBeGreaterThan(Date.now() / 1000 + 500);
    expect(execPod?.metadata?.name).toMatch(/^code-exec-[0-9a-f-]{36}$/);
    expect(execPod?.metadata?.labels).toMatchObject({ app: "code-interpreter", component: "exec", [RUNTIME_LABEL_KEY]: "default" });
  });

  it("sets activeDeadlineSeconds: the session's maximum lifetime, and a one-shot pod's whole budget", () => {
    expect(sessionPod.spec?.activeDeadlineSeconds).toBe(7200);
    expect(execPod?.spec?.activeDeadlineSeconds).toBeGreaterThan(10);
    expect(execPod?.spec?.containers[0]).toMatchObject({ stdin: true, stdinOnce: true, tty: false });
  });

  it("is owned by the server's Deployment, so the cluster removes leaked pods with it", () => {
    expect(sessionPod.metadata?.ownerReferences).toEqual([{ ...owner, controller: false, blockOwnerDeletion: false }]);
  });

  it("leaves no pod behind", async () => {
    expect(await leftovers(double)).toEqual([]);
  });
});

describe.skipIf(!available)("kubernetes pods without the network lockdown", { timeout: 60_000 }, () => {
  it("have no init container and no volume for it", async () => {
    const double = await startDouble();
    try {
      const backend = await createTestBackend(double, { netAdminLockdown: false });
      const session = await backend.createSession({ ttlSeconds: 60, files: [] });
      const pod = double.pod(namespace, session.id);
      await backend.deleteSession(session.id);
      await backend.close();
      expect(pod?.spec?.initContainers).toBeUndefined();
      expect(pod?.spec?.volumes?.map((volume) => volume.name)).toEqual(["workspace", "tmp"]);
    } finally {
      await stopDouble(double);
    }
  });
});

describe("the seccomp profile of sandbox pods", () => {
  const settings = (seccompProfile: KubernetesBackendSettings["seccompProfile"]): KubernetesBackendSettings => ({
    ...defaultKubernetesBackendSettings(),
    kubeConfig: new KubeConfig(),
    namespace,
    seccompProfile,
  });

  it("is the node's Localhost profile when configured, for the pod and its executor but not the lockdown init container", () => {
    const localhost = { type: "Localhost", localhostProfile: LOCALHOST_SECCOMP_PROFILE } as const;
    for (const pod of [
      sessionPodSpec(settings(localhost), "code-session-x", 1),
      execPodSpec(settings(localhost), "code-exec-x", ["python3"], { seconds: 60, at: 1 }),
    ]) {
      expect(pod.spec?.securityContext?.seccompProfile).toEqual(localhost);
      expect(pod.spec?.containers[0]?.securityContext?.seccompProfile).toEqual(localhost);
      // iptables and nft speak netlink, which the sandbox's profile refuses.
      expect(pod.spec?.initContainers?.[0]?.securityContext?.seccompProfile).toEqual({ type: "RuntimeDefault" });
    }
  });

  it("is the shipped profile's gVisor variant (no clone3 rule) for gVisor pods, and any other profile as configured", () => {
    const localhost = { type: "Localhost", localhostProfile: LOCALHOST_SECCOMP_PROFILE } as const;
    const gvisor = (profile: KubernetesBackendSettings["seccompProfile"]) => ({ ...settings(profile), sandboxRuntime: "gvisor" as const });
    const pod = sessionPodSpec(gvisor(localhost), "code-session-x", 1);
    const expected = { type: "Localhost", localhostProfile: GVISOR_LOCALHOST_SECCOMP_PROFILE };
    expect(pod.spec?.securityContext?.seccompProfile).toEqual(expected);
    expect(pod.spec?.containers[0]?.securityContext?.seccompProfile).toEqual(expected);
    const own = { type: "Localhost", localhostProfile: "mine.json" } as const;
    expect(sessionPodSpec(gvisor(own), "code-session-x", 1).spec?.securityContext?.seccompProfile).toEqual(own);
    expect(sessionPodSpec(gvisor({ type: "RuntimeDefault" }), "code-session-x", 1).spec?.securityContext?.seccompProfile).toEqual({
      type: "RuntimeDefault",
    });
  });

  it("falls back to RuntimeDefault, and reads KUBERNETES_EXECUTOR_SECCOMP_PROFILE", () => {
    expect(defaultKubernetesBackendSettings().seccompProfile).toEqual({ type: "RuntimeDefault" });
    expect(parseSeccompProfile(undefined)).toEqual({ type: "RuntimeDefault" });
    expect(parseSeccompProfile("runtime/default")).toEqual({ type: "RuntimeDefault" });
    expect(parseSeccompProfile("localhost/code-interpreter.json")).toEqual({
      type: "Localhost",
      localhostProfile: "code-interpreter.json",
    });
    for (const bad of ["localhost/", "localhost//etc/x.json", "localhost/../x.json", "unconfined", "RuntimeDefault"]) {
      expect(() => parseSeccompProfile(bad), bad).toThrow(/KUBERNETES_EXECUTOR_SECCOMP_PROFILE/);
    }
  });
});

describe("the memory of sandbox pods", () => {
  const settings = (extra: Partial<KubernetesBackendSettings>): KubernetesBackendSettings => ({
    ...defaultKubernetesBackendSettings(),
    kubeConfig: new KubeConfig(),
    namespace,
    ...extra,
  });

  it("is the memory limit on the default runtime, and under gVisor leaves room for gVisor's kernel and every process", () => {
    const resources = (extra: Partial<KubernetesBackendSettings>) =>
      execPodSpec(settings({ memoryLimitMb: 256, maxProcesses: 64, ...extra }), "code-exec-x", ["python3"], { seconds: 60, at: 1 }).spec
        ?.containers[0]?.resources;
    expect(resources({})).toMatchObject({ requests: { memory: "256Mi" }, limits: { memory: "256Mi" } });
    // 256 Mi for gVisor's own kernel; the limit also 8 Mi per process RLIMIT_NPROC allows.
    expect(resources({ sandboxRuntime: "gvisor" })).toMatchObject({ requests: { memory: "512Mi" }, limits: { memory: "1024Mi" } });
  });

  it("has the runner bound the number of processes under gVisor only, where its kernel counts them per pod", () => {
    const gvisor = kubernetesEngineOptions(settings({ memoryLimitMb: 256, maxProcesses: 64, sandboxRuntime: "gvisor" }));
    expect(gvisor).toMatchObject({ processRlimit: true, limits: { processes: 64 } });
    const plain = kubernetesEngineOptions(settings({ memoryLimitMb: 256, maxProcesses: 64 }));
    expect(plain).toMatchObject({ processRlimit: false, limits: { processes: Number.POSITIVE_INFINITY } });
  });
});
