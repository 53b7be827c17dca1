import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

/** Why gVisor cannot run here (runsc missing, or not root), or undefined. */
const runscMissing =
  spawnSync("runsc", ["--version"]).status !== 0 ? "runsc is not installed" : process.getuid?.() !== 0 ? "runsc needs root" : undefined;

let home: string;
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "ci-cli-doctor-"));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

/** The environment without anything that would point at a real cluster or colour the output. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...extra };
  for (const key of [
    "KUBECONFIG",
    "KUBERNETES_SERVICE_HOST",
    "FORCE_COLOR",
    "EXECUTOR_BACKEND",
    "KUBERNETES_EXECUTOR_NAMESPACE",
    "SANDBOX_RUNTIME",
    "SANDBOX_RUNTIMES",
  ]) {
    if (!(key in extra)) delete env[key];
  }
  return env;
}

describe("code-interpreter doctor", () => {
  it("finds the local sandbox and the docker backend ready here, as a plain check list when piped", async () => {
    const run = await runCli(["doctor"], { env: cleanEnv() });
    expect(run.stdout).toMatch(/^ {2}ok +Node\.js: v\d+/m);
    for (const check of [
      "bubblewrap",
      "user namespace sandbox",
      "sandbox environment",
      "python3",
      "sandboxed execution",
      "Docker engine",
      "executor image",
      "image environment",
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^ {2}ok +${check}:`, "m"));
    }
    expect(run.stdout).toContain("auto: ready; the server will use docker");
    expect(run.stdout).not.toContain("\u001b[");
    expect(run.code).toBe(0);
  });

  it("names a missing or stale sandbox environment and the command that prepares it", async () => {
    const missing = join(home, "no-rootfs");
    const absent = await runCli(["doctor", "--backend", "local"], { env: cleanEnv({ LOCAL_ROOTFS: missing }) });
    expect(absent.code).toBe(1);
    expect(absent.stdout).toMatch(new RegExp(`^ {2}FAIL sandbox environment: not prepared at ${missing}`, "m"));
    expect(absent.stdout).toMatch(new RegExp(`fix: sudo LOCAL_ROOTFS=${missing} bash .*images/environment/prepare-rootfs\\.sh`));
    const stale = join(home, "stale-rootfs");
    await mkdir(join(stale, "etc/code-interpreter"), { recursive: true });
    await writeFile(join(stale, "etc/code-interpreter/environment.json"), JSON.stringify({ hash: "0000000000000000", modules: {} }));
    const old = await runCli(["doctor", "--backend", "local"], { env: cleanEnv({ LOCAL_ROOTFS: stale }) });
    expect(old.code).toBe(1);
    expect(old.stdout).toMatch(
      /^ {2}FAIL sandbox environment: .* is stale: built from environment 0000000000000000, the declaration is now [0-9a-f]{16}/m,
    );
  });

  it.skipIf(runscMissing && process.env.CI !== "true")(
    `checks every runtime offered: gVisor's runsc version and a sandbox that really runs on gVisor${runscMissing ? ` [${runscMissing}]` : ""}`,
    { timeout: 240_000 },
    async () => {
      const run = await runCli(["doctor", "--backend", "local"], { env: cleanEnv({ SANDBOX_RUNTIMES: "default,gvisor" }) });
      expect(run.stdout).toContain("sandbox runtimes (SANDBOX_RUNTIMES: default, gvisor) on local");
      expect(run.stdout).toMatch(/^ {2}ok +runtime default: /m);
      expect(run.stdout).toMatch(/^ {2}ok +runtime gvisor: runsc version \S+; ran Python in a gVisor sandbox$/m);
      expect(run.code).toBe(0);
    },
  );

  it("names a runtime that is no runtime", { timeout: 120_000 }, async () => {
    const run = await runCli(["doctor", "--backend", "local"], { env: cleanEnv({ SANDBOX_RUNTIMES: "default,kata" }) });
    expect(run.stdout).toMatch(/^ {2}FAIL runtime kata: "kata" is not a sandbox runtime$/m);
    expect(run.code).toBe(1);
  });

  it("names the missing executor image and the command that builds it", async () => {
    const run = await runCli(["doctor", "--backend", "docker"], {
      env: cleanEnv({ PYTHON_EXECUTOR_DOCKER_IMAGE: "code-interpreter-missing:none" }),
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^ {2}FAIL executor image: .*code-interpreter-missing:none/m);
    expect(run.stdout).toContain("fix: code-interpreter image build --image code-interpreter-missing:none");
    expect(run.stdout).toContain("docker: not ready");
  });

  it("says what the kubernetes backend needs when nothing is configured", async () => {
    const run = await runCli(["doctor", "--backend", "kubernetes"], { env: cleanEnv() });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^ {2}FAIL Kubernetes config: no in-cluster service account .* no kubeconfig/m);
    expect(run.stdout).toContain("KUBECONFIG");
  });

  it("reaches the namespace of the Kubernetes API double and says when permissions cannot be checked", async () => {
    const double = await KubernetesDouble.start({ runtime: "process" });
    try {
      const kubeconfig = join(home, "double.yaml");
      await double.writeKubeconfig(kubeconfig, "code-interpreter-doctor");
      const run = await runCli(["doctor", "-b", "kubernetes"], { env: cleanEnv({ KUBECONFIG: kubeconfig }) });
      expect(run.stdout).toMatch(/^ {2}ok +Kubernetes config: KUBECONFIG=/m);
      expect(run.stdout).toMatch(/^ {2}ok +namespace: code-interpreter-doctor answers/m);
      // The double has no SelfSubjectAccessReview: that is a warning, not a failure.
      expect(run.stdout).toMatch(/^ {2}WARN permissions: could not ask the API server .*kubectl auth can-i/m);
      expect(run.code).toBe(0);
    } finally {
      await double.stop();
    }
  });

  it("lists exactly the RBAC permissions the API server denies", async () => {
    const api = await startAccessReviewServer((attributes) => !(attributes.verb === "delete" || attributes.subresource === "exec"));
    try {
      const kubeconfig = join(home, "rbac.yaml");
      await writeFile(kubeconfig, kubeconfigFor(api.url, "sandboxes"));
      const run = await runCli(["doctor", "-b", "kubernetes"], { env: cleanEnv({ KUBECONFIG: kubeconfig }) });
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^ {2}FAIL permissions: missing in sandboxes: delete pods, create pods\/exec, get pods\/exec$/m);
      expect(run.stdout).toContain("deploy/role.yaml");
      expect(api.reviews.every((review) => review.namespace === "sandboxes")).toBe(true);
    } finally {
      await api.close();
    }
  });
});

interface ResourceAttributes {
  namespace: string;
  group: string;
  resource: string;
  subresource?: string;
  verb: string;
}

/** The two endpoints doctor calls: listing pods, and SelfSubjectAccessReview answered by `allow`. */
async function startAccessReviewServer(allow: (attributes: ResourceAttributes) => boolean) {
  const reviews: ResourceAttributes[] = [];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      response.setHeader("content-type", "application/json");
      if (request.method === "GET" && /^\/api\/v1\/namespaces\/[^/]+\/pods/.test(request.url ?? "")) {
        response.end(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: {}, items: [] }));
      } else if (request.method === "POST" && request.url?.startsWith("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")) {
        const review = JSON.parse(body);
        const attributes = review.spec.resourceAttributes as ResourceAttributes;
        reviews.push(attributes);
        response.statusCode = 201;
        response.end(JSON.stringify({ ...review, status: { allowed: allow(attributes) } }));
      } else {
        response.statusCode = 404;
        response.end(JSON.stringify({ kind: "Status", status: "Failure", code: 404, message: "not found" }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    reviews,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function kubeconfigFor(server: string, namespace: string): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: ${server}
      insecure-skip-tls-verify: true
users:
  - name: test
    user: {}
contexts:
  - name: test
    context: { cluster: test, user: test, namespace: ${namespace} }
current-context: test
`;
}
