import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { type CheckResult, fail, ok, warn, withTimeout } from "./check.js";

const API_TIMEOUT_MS = 10_000;

/**
 * The Kubernetes backend: a configuration (in-cluster or a kubeconfig), the
 * namespace answering, and every permission in REQUIRED_PERMISSIONS, asked
 * of the API server itself with SelfSubjectAccessReview.
 */
export async function checkKubernetes(env: NodeJS.ProcessEnv = process.env): Promise<CheckResult[]> {
  const source = configSource(env);
  if (!source) {
    return [
      fail(
        "Kubernetes config",
        "no in-cluster service account (KUBERNETES_SERVICE_HOST unset) and no kubeconfig (KUBECONFIG unset, no ~/.kube/config)",
        "run the server in the cluster with deploy/ (kubectl apply -k deploy/), or point KUBECONFIG at a kubeconfig whose context can reach the cluster",
      ),
    ];
  }
  const { apiMessage, apiStatus, defaultNamespace, loadKubeConfig, REQUIRED_PERMISSIONS } = await import(
    "@code-interpreter/backend-kubernetes"
  );
  const { AuthorizationV1Api, CoreV1Api } = await import("@kubernetes/client-node");
  let config: ReturnType<typeof loadKubeConfig>;
  try {
    config = loadKubeConfig(env);
  } catch (error) {
    return [
      fail(
        "Kubernetes config",
        `${source} cannot be loaded: ${(error as Error).message}`,
        "fix the kubeconfig (kubectl config view shows what is wrong)",
      ),
    ];
  }
  const server = config.getCurrentCluster()?.server ?? "(no cluster in the current context)";
  const namespace = env.KUBERNETES_EXECUTOR_NAMESPACE || defaultNamespace(config);
  const results = [ok("Kubernetes config", `${source}; API server ${server}`)];

  try {
    await withTimeout(config.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, limit: 1 }), API_TIMEOUT_MS, server);
    results.push(ok("namespace", `${namespace} answers at ${server}`));
  } catch (error) {
    const status = apiStatus(error);
    if (status === 403) results.push(ok("namespace", `${namespace} answers (listing pods is forbidden: see permissions)`));
    else if (status === 404) {
      results.push(
        fail("namespace", `${namespace} does not exist`, `kubectl create namespace ${namespace}, or set KUBERNETES_EXECUTOR_NAMESPACE`),
      );
    } else if (status === 401) {
      results.push(
        fail(
          "namespace",
          `the API server refused the credentials: ${apiMessage(error)}`,
          "refresh the kubeconfig's credentials (kubectl get pods shows the same error)",
        ),
      );
    } else {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      results.push(
        fail(
          "namespace",
          `the API server does not answer at ${server} (${cause})`,
          "check the cluster is up and the kubeconfig's server address (kubectl cluster-info)",
        ),
      );
      return results;
    }
  }

  const authorization = config.makeApiClient(AuthorizationV1Api);
  const missing: string[] = [];
  for (const rule of REQUIRED_PERMISSIONS) {
    for (const resourcePath of rule.resources) {
      const [resource, subresource] = resourcePath.split("/");
      for (const verb of rule.verbs) {
        const label = `${verb} ${resourcePath}${rule.apiGroup ? `.${rule.apiGroup}` : ""}`;
        try {
          const review = await withTimeout(
            authorization.createSelfSubjectAccessReview({
              body: {
                apiVersion: "authorization.k8s.io/v1",
                kind: "SelfSubjectAccessReview",
                spec: { resourceAttributes: { namespace, group: rule.apiGroup, resource, verb, ...(subresource ? { subresource } : {}) } },
              },
            }),
            API_TIMEOUT_MS,
            server,
          );
          if (!review.status?.allowed) missing.push(label);
        } catch (error) {
          results.push(
            warn(
              "permissions",
              `could not ask the API server (SelfSubjectAccessReview: ${apiStatus(error) ?? ""} ${apiMessage(error)}); check by hand: kubectl auth can-i --list -n ${namespace}`,
            ),
          );
          return results;
        }
      }
    }
  }
  const total = REQUIRED_PERMISSIONS.reduce((sum, rule) => sum + rule.resources.length * rule.verbs.length, 0);
  if (missing.length === 0) results.push(ok("permissions", `all ${total} required permissions granted in ${namespace}`));
  else {
    results.push(
      fail(
        "permissions",
        `missing in ${namespace}: ${missing.join(", ")}`,
        `grant the Role in deploy/role.yaml to the identity the server runs as (kubectl apply -n ${namespace} -f deploy/role.yaml -f deploy/rolebinding.yaml)`,
      ),
    );
  }
  return results;
}

/** Where the configuration would come from, or undefined when there is none. */
function configSource(env: NodeJS.ProcessEnv): string | undefined {
  if (env.KUBERNETES_SERVICE_HOST) return "in-cluster service account";
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((file) => file && existsSync(file));
    return files.length ? `KUBECONFIG=${files.join(delimiter)}` : undefined;
  }
  const home = join(env.HOME || homedir(), ".kube", "config");
  return existsSync(home) ? home : undefined;
}
