import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GVISOR_SYSCALL_POLICY, ociSeccompProfileJson } from "@code-interpreter/core/policy";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { GVISOR_LOCALHOST_SECCOMP_PROFILE, GVISOR_RUNTIME_CLASS, LOCALHOST_SECCOMP_PROFILE, REQUIRED_PERMISSIONS } from "../src/index.js";

const deployDir = new URL("../../../deploy/", import.meta.url);
const manifests = readdirSync(deployDir).filter((name) => name.endsWith(".yaml"));
const documents = manifests.flatMap((name) =>
  parseAllDocuments(readFileSync(new URL(name, deployDir), "utf8")).map((document) => ({ name, document })),
);
// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML, read field by field
const objects = documents.map(({ document }) => document.toJS() as Record<string, any>);
const ofKind = (kind: string) => objects.filter((object) => object.kind === kind);

/** Rules as comparable strings: one per group, resource and verb. */
function flatten(rules: { apiGroups?: string[]; apiGroup?: string; resources: readonly string[]; verbs: readonly string[] }[]): string[] {
  return rules
    .flatMap((rule) =>
      (rule.apiGroups ?? [rule.apiGroup ?? ""]).flatMap((group) =>
        rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${group}/${resource}:${verb}`)),
      ),
    )
    .sort();
}

describe("deployment manifests", () => {
  it("all parse as YAML without errors", () => {
    expect(manifests.length).toBeGreaterThan(0);
    for (const { name, document } of documents) expect(document.errors, name).toEqual([]);
  });

  it("grant the server's Role exactly the permissions the backend's calls need", () => {
    const [role, ...others] = ofKind("Role");
    expect(others).toEqual([]);
    expect(flatten(role?.rules ?? [])).toEqual(flatten([...REQUIRED_PERMISSIONS]));
  });

  it("bind the Role to the service account the Deployment runs as", () => {
    const deployment = ofKind("Deployment")[0];
    const binding = ofKind("RoleBinding")[0];
    expect(binding?.roleRef).toMatchObject({ kind: "Role", name: ofKind("Role")[0]?.metadata.name });
    expect(binding?.subjects).toEqual([{ kind: "ServiceAccount", name: deployment?.spec.template.spec.serviceAccountName }]);
  });

  it("run the server non-root on the kubernetes backend, ready on /health, with API keys from a Secret", () => {
    const spec = ofKind("Deployment")[0]?.spec.template.spec;
    const server = spec?.containers[0];
    expect(spec?.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(server?.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    expect(server?.env).toContainEqual({ name: "EXECUTOR_BACKEND", value: "kubernetes" });
    expect(server?.readinessProbe.httpGet.path).toBe("/health");
    // A degraded backend makes /health 503: the pod leaves the Service but is not restarted for it.
    expect(server?.livenessProbe.tcpSocket.port).toBe("http");
    // Without keys the server refuses HOST=0.0.0.0, so the keys file must be mounted where API_KEYS_FILE points.
    const keysFile = server?.env.find((variable: { name: string }) => variable.name === "API_KEYS_FILE")?.value as string;
    const mount = server?.volumeMounts.find((volume: { mountPath: string }) => keysFile.startsWith(`${volume.mountPath}/`));
    expect(spec?.volumes.find((volume: { name: string }) => volume.name === mount?.name)?.secret?.secretName).toBe(
      "code-interpreter-api-keys",
    );
  });

  it("let sandbox pods reach only the servers' egress port, which takes only them", () => {
    const sandboxPods = {
      matchLabels: { app: "code-interpreter" },
      matchExpressions: [{ key: "component", operator: "In", values: ["exec", "session"] }],
    };
    const serverPods = { matchLabels: { app: "code-interpreter", component: "server" } };
    const egressPort = ofKind("Deployment")[0]?.spec.template.spec.containers[0].ports.find(
      (port: { name: string }) => port.name === "egress",
    )?.containerPort;
    expect(egressPort).toBe(3129);
    const [sandbox, server, ...others] = ofKind("NetworkPolicy");
    expect(others).toEqual([]);
    expect(sandbox?.spec).toEqual({
      podSelector: sandboxPods,
      policyTypes: ["Ingress", "Egress"],
      ingress: [],
      egress: [{ to: [{ podSelector: serverPods }], ports: [{ protocol: "TCP", port: egressPort }] }],
    });
    expect(server?.spec).toEqual({
      podSelector: serverPods,
      policyTypes: ["Ingress"],
      ingress: [
        { ports: [{ protocol: "TCP", port: 8000 }] },
        { from: [{ podSelector: sandboxPods }], ports: [{ protocol: "TCP", port: egressPort }] },
      ],
    });
  });

  it("listen for sandbox pods' egress and tell them this replica's own IP", () => {
    const server = ofKind("Deployment")[0]?.spec.template.spec.containers[0];
    const env = (name: string) => server?.env.find((variable: { name: string }) => variable.name === name);
    expect(env("EGRESS_LISTEN")?.value).toBe("0.0.0.0:3129");
    expect(env("EGRESS_ADVERTISE_ADDRESS")?.valueFrom).toEqual({ fieldRef: { fieldPath: "status.podIP" } });
    const service = ofKind("Service").find((object) => object.metadata.name === "code-interpreter-egress");
    expect(service?.spec).toMatchObject({ clusterIP: "None", ports: [{ name: "egress", port: 3129, targetPort: "egress" }] });
  });

  it("ship the nodes' Localhost seccomp profiles exactly as the syscall policy generates them, the default's and gVisor's", () => {
    // If this fails after a policy change, regenerate the files: see deploy/README.md ("The sandbox's seccomp profile").
    const shipped = readFileSync(new URL(`seccomp/${LOCALHOST_SECCOMP_PROFILE}`, deployDir), "utf8");
    expect(shipped).toBe(ociSeccompProfileJson());
    const gvisor = readFileSync(new URL(`seccomp/${GVISOR_LOCALHOST_SECCOMP_PROFILE}`, deployDir), "utf8");
    expect(gvisor).toBe(ociSeccompProfileJson(GVISOR_SYSCALL_POLICY));
  });

  it("install that profile on every node, where the kubelet reads Localhost profiles", () => {
    const seccompDir = new URL("seccomp/", deployDir);
    const kustomization = parseAllDocuments(readFileSync(new URL("kustomization.yaml", seccompDir), "utf8"))[0]?.toJS();
    const daemonSet = parseAllDocuments(readFileSync(new URL("install-daemonset.yaml", seccompDir), "utf8"))[0]?.toJS();
    expect(kustomization.configMapGenerator).toEqual([
      { name: "code-interpreter-seccomp", files: [LOCALHOST_SECCOMP_PROFILE, GVISOR_LOCALHOST_SECCOMP_PROFILE] },
    ]);
    expect(kustomization.resources).toEqual(["install-daemonset.yaml"]);
    expect(daemonSet.kind).toBe("DaemonSet");
    const spec = daemonSet.spec.template.spec;
    expect(spec.volumes).toEqual([
      { name: "profile", configMap: { name: "code-interpreter-seccomp" } },
      { name: "kubelet-seccomp", hostPath: { path: "/var/lib/kubelet/seccomp", type: "DirectoryOrCreate" } },
    ]);
    const install = spec.initContainers[0];
    // The install command itself, with a scratch directory for the kubelet's: it installs every profile, and nothing else.
    const target = mkdtempSync(join(tmpdir(), "ci-seccomp-install-"));
    try {
      const command = install.command.at(-1).replaceAll("/seccomp/", `${target}/`).replaceAll("/profile/", fileURLToPath(seccompDir));
      const installed = spawnSync("sh", ["-c", command], { encoding: "utf8" });
      expect(installed.status, installed.stderr).toBe(0);
      expect(readdirSync(target).sort()).toEqual([GVISOR_LOCALHOST_SECCOMP_PROFILE, LOCALHOST_SECCOMP_PROFILE]);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
    expect(install.volumeMounts.find((mount: { name: string }) => mount.name === "kubelet-seccomp").mountPath).toBe("/seccomp");
  });

  it("list every manifest in the kustomization", () => {
    const kustomization = objects.find((object) => object.kind === "Kustomization");
    expect([...(kustomization?.resources ?? [])].sort()).toEqual(manifests.filter((name) => name !== "kustomization.yaml").sort());
  });
});

// What `kubectl apply -k deploy/` would send, rendered by kubectl itself (Debian's kubernetes-client,
// installed by scripts/test.d/55-kubectl.sh); without kubectl the tests below fail under CI=true.
const kubectl = spawnSync("kubectl", ["kustomize", fileURLToPath(deployDir)], { encoding: "utf8", timeout: 60_000 });
const kubectlMissing = kubectl.error ? `kubectl is not installed: ${kubectl.error.message}` : undefined;
if (kubectlMissing && process.env.CI === "true") throw new Error(`the deploy/ rendering test needs ${kubectlMissing}`);
// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are free-form YAML, read field by field
const rendered = kubectlMissing ? [] : parseAllDocuments(kubectl.stdout).map((document) => document.toJS() as Record<string, any>);

describe.skipIf(kubectlMissing !== undefined)("deploy/ rendered by kubectl kustomize", () => {
  const renderedKind = (kind: string) => rendered.filter((object) => object.kind === kind);
  const deployment = () => renderedKind("Deployment")[0];
  const server = () => deployment()?.spec.template.spec.containers[0];
  const env = (name: string) => server()?.env.find((variable: { name: string }) => variable.name === name);

  it("renders without errors, every manifest once", () => {
    expect(kubectl.status, kubectl.stderr).toBe(0);
    expect(rendered.map((object) => object.kind).sort()).toEqual(
      [
        "Deployment",
        "NetworkPolicy",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "RuntimeClass",
        "Service",
        "Service",
        "ServiceAccount",
        "ServiceAccount",
      ].sort(),
    );
  });

  it("makes the RuntimeClass a gVisor backend's pods name by default, with gVisor's runsc handler", () => {
    const [runtimeClass, ...others] = renderedKind("RuntimeClass");
    expect(others).toEqual([]);
    expect(runtimeClass?.apiVersion).toBe("node.k8s.io/v1");
    expect(runtimeClass?.metadata.name).toBe(GVISOR_RUNTIME_CLASS);
    expect(runtimeClass?.handler).toBe("runsc");
  });

  it("runs two replicas, and a disruption takes at most one", () => {
    expect(deployment()?.spec.replicas).toBe(2);
    const [budget] = renderedKind("PodDisruptionBudget");
    expect(budget?.spec.minAvailable).toBe(1);
    expect(budget?.spec.selector.matchLabels).toEqual(deployment()?.spec.selector.matchLabels);
  });

  it("rolls out one pod at a time and lets executions in flight finish before a pod goes", () => {
    expect(deployment()?.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const maxExecSeconds = Number(env("MAX_EXEC_TIMEOUT_MS")?.value) / 1000;
    const preStop = server()?.lifecycle.preStop.exec.command as string[];
    const pauseSeconds = Number(/setTimeout\(\(\) => \{\}, (\d+)\)/.exec(preStop.at(-1) ?? "")?.[1]) / 1000;
    expect(pauseSeconds).toBeGreaterThan(0);
    // The server drains for MAX_EXEC_TIMEOUT_MS + 5 s after SIGTERM, which comes after the preStop pause.
    expect(deployment()?.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(pauseSeconds + maxExecSeconds + 5);
  });

  it("keeps files in the object store, with its settings from the Secret code-interpreter-s3", () => {
    expect(env("FILE_STORE")).toEqual({ name: "FILE_STORE", value: "s3" });
    for (const name of ["S3_BUCKET", "S3_ENDPOINT", "S3_REGION", "S3_FORCE_PATH_STYLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
      expect(env(name)?.valueFrom.secretKeyRef, name).toMatchObject({ name: "code-interpreter-s3", key: name });
    }
    // Only the bucket is required: the rest has defaults or comes from the pod's identity.
    expect(env("S3_BUCKET")?.valueFrom.secretKeyRef.optional).toBeUndefined();
    expect(env("FILE_STORAGE_DIR")).toBeUndefined();
  });
});
