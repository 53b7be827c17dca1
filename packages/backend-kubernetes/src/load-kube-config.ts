import { existsSync, readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";

/** Where a pod finds its own namespace. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/**
 * The client configuration: the pod's service account when running in a
 * cluster (KUBERNETES_SERVICE_HOST is set), else the default kubeconfig
 * (KUBECONFIG, else ~/.kube/config).
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const config = new KubeConfig();
  if (env.KUBERNETES_SERVICE_HOST) config.loadFromCluster();
  else config.loadFromDefault();
  return config;
}

/** The namespace to use when none is configured: the pod's own, else the kubeconfig context's, else `default`. */
export function defaultNamespace(config: KubeConfig, namespaceFile = SERVICE_ACCOUNT_NAMESPACE_FILE): string {
  if (existsSync(namespaceFile)) {
    const own = readFileSync(namespaceFile, "utf8").trim();
    if (own) return own;
  }
  return config.getContextObject(config.getCurrentContext())?.namespace || "default";
}
