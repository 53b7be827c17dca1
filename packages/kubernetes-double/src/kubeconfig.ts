import { KubeConfig } from "@kubernetes/client-node";

/** A kubeconfig (YAML) for the double at `server`, with no credentials (it accepts anyone on loopback). */
export function kubeconfigYaml(server: string, namespace: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: kubernetes-double",
    "    cluster:",
    `      server: ${server}`,
    // client-node refuses plain HTTP unless this is set; the double serves HTTP on loopback.
    "      insecure-skip-tls-verify: true",
    "users:",
    "  - name: kubernetes-double",
    "    user: {}",
    "contexts:",
    "  - name: kubernetes-double",
    "    context:",
    "      cluster: kubernetes-double",
    "      user: kubernetes-double",
    `      namespace: ${namespace}`,
    "current-context: kubernetes-double",
    "",
  ].join("\n");
}

/** The same, loaded as the client's KubeConfig. */
export function kubeConfigFor(server: string, namespace: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(kubeconfigYaml(server, namespace));
  return config;
}
