import type { V1Pod } from "@kubernetes/client-node";

/**
 * The /etc/resolv.conf a kubelet writes for a pod with `dnsPolicy: None`: the
 * `dnsConfig`'s nameservers, search domains and options, nothing of the
 * node's. Undefined for any other policy (the double has no cluster DNS; the
 * runtime's own resolv.conf stays).
 */
export function podResolvConf(pod: V1Pod): string | undefined {
  if (pod.spec?.dnsPolicy !== "None") return undefined;
  const config = pod.spec.dnsConfig ?? {};
  const options = (config.options ?? []).map((option) => (option.value === undefined ? option.name : `${option.name}:${option.value}`));
  const lines = [
    ...(config.nameservers ?? []).map((server) => `nameserver ${server}`),
    ...((config.searches ?? []).length > 0 ? [`search ${config.searches?.join(" ")}`] : []),
    ...(options.length > 0 ? [`options ${options.join(" ")}`] : []),
  ];
  return `${lines.join("\n")}\n`;
}
