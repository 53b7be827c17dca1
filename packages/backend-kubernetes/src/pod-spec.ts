import { EGRESS_MOUNT_PATH } from "@code-interpreter/core";
import { cpuEnv, DECLARED_ENV_VARIABLES, sessionInitArgv, WORKSPACE_DIR, warmSessionInitArgv } from "@code-interpreter/core/engine";
import {
  EXPIRES_AT_KEY,
  GVISOR_OVERHEAD_BYTES,
  gvisorMemoryBytes,
  RUNTIME_LABEL_KEY,
  sandboxLabels,
  TENANT_KEY,
  WARM_LABEL_KEY,
} from "@code-interpreter/core/sandbox";
import type { V1Container, V1Pod, V1SecurityContext } from "@kubernetes/client-node";
import { type KubernetesBackendSettings, podRuntimeClass, podSeccompProfile } from "./kubernetes-backend-settings.js";

/** Name of the container that runs code in every sandbox pod. */
export const EXECUTOR_CONTAINER = "executor";
/** Defined once in core: pods made ahead of demand carry it; re-exported here as before. */
export { WARM_LABEL_KEY };
/** Name of the egress lockdown init container. */
export const LOCKDOWN_CONTAINER = "network-lockdown";

/**
 * Drops every packet leaving the pod except on loopback, with iptables (IPv4
 * and IPv6) or nft, whichever the image has. It runs in the pod's network
 * namespace, which the executor container shares, before that starts. A pod
 * with egress (issue 22) may also reach the egress proxy's TCP listener, and
 * nothing else: PROXY_ADDRESS and PROXY_PORT in the init container's environment.
 */
export const LOCKDOWN_SCRIPT = `set -eu
proxy_address="\${PROXY_ADDRESS:-}"
proxy_port="\${PROXY_PORT:-}"
case "$proxy_address" in *:*) proxy_family=6 ;; ?*) proxy_family=4 ;; *) proxy_family=none ;; esac
if command -v iptables >/dev/null 2>&1; then
  iptables -w -A OUTPUT -o lo -j ACCEPT
  if [ "$proxy_family" = 4 ]; then iptables -w -A OUTPUT -p tcp -d "$proxy_address" --dport "$proxy_port" -j ACCEPT; fi
  # Refused at once rather than dropped (a hang), where the node has REJECT; the policy drops the rest either way.
  iptables -w -A OUTPUT -j REJECT 2>/dev/null || true
  iptables -w -P OUTPUT DROP
  if command -v ip6tables >/dev/null 2>&1; then
    if [ "$proxy_family" = 6 ]; then ip6tables -w -A OUTPUT -p tcp -d "$proxy_address" --dport "$proxy_port" -j ACCEPT; fi
    ip6tables -w -A OUTPUT -o lo -j ACCEPT && ip6tables -w -P OUTPUT DROP || true
    ip6tables -w -A OUTPUT -j REJECT 2>/dev/null || true
  elif [ "$proxy_family" = 6 ]; then
    echo "network lockdown: the egress proxy is at an IPv6 address and the image has no ip6tables" >&2
    exit 1
  fi
elif command -v nft >/dev/null 2>&1; then
  nft add table inet code_interpreter_lockdown
  nft add chain inet code_interpreter_lockdown output '{ type filter hook output priority 0; policy drop; }'
  nft add rule inet code_interpreter_lockdown output oif lo accept
  if [ "$proxy_family" = 4 ]; then nft add rule inet code_interpreter_lockdown output ip daddr "$proxy_address" tcp dport "$proxy_port" accept; fi
  if [ "$proxy_family" = 6 ]; then nft add rule inet code_interpreter_lockdown output ip6 daddr "$proxy_address" tcp dport "$proxy_port" accept; fi
  nft add rule inet code_interpreter_lockdown output reject 2>/dev/null || true
else
  echo "network lockdown: the image has neither iptables nor nft" >&2
  exit 1
fi
`;

/** The security context of the executor container: Pod Security Standard "restricted". */
export function restrictedSecurityContext(settings: KubernetesBackendSettings): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: settings.sandboxUid,
    runAsGroup: settings.sandboxUid,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: podSeccompProfile(settings),
  };
}

/**
 * The environment of every sandbox container: the code's (requests set it
 * again for each command), which a preloading runner and a session's Python
 * kernel need from the start, since modules read it when imported. The
 * engine passes it (`env`); this is the same, from the settings, for a spec
 * made without one.
 */
export function codeEnvVariables(settings: KubernetesBackendSettings): Record<string, string> {
  return { ...DECLARED_ENV_VARIABLES, ...cpuEnv(settings.cpus) };
}

/**
 * A one-shot pod: the runner is its main process and reads the request from
 * the attached stdin. A `warm` one is made ahead of demand for the pool.
 */
export function execPodSpec(
  settings: KubernetesBackendSettings,
  name: string,
  runner: string[],
  deadline: { seconds: number; at: number },
  options: { warm?: boolean; env?: Record<string, string>; egress?: PodEgressAddress } = {},
): V1Pod {
  const pod = sandboxPod(settings, name, "exec", deadline, { command: runner, stdin: true, stdinOnce: true }, options.env, options.egress);
  if (options.warm && pod.metadata?.labels) pod.metadata.labels[WARM_LABEL_KEY] = "true";
  return pod;
}

/**
 * A session pod: a small reaper as main process; its command runner and
 * kernel reach it by exec. A warm one (`warmSeconds`: how long it may wait to
 * be claimed, `expiresAt` its end) is made for the session pool under its
 * future session id, labelled warm until its claim; its init watches its
 * stdin, which the server holds by an attach until the claim, and ends with
 * the pod when its server goes first (`warmSessionInitArgv`).
 */
export function sessionPodSpec(
  settings: KubernetesBackendSettings,
  id: string,
  expiresAt: number,
  tenant?: string,
  options: { warmSeconds?: number; env?: Record<string, string>; egress?: PodEgressAddress } = {},
): V1Pod {
  // activeDeadlineSeconds can only be lowered on a running pod, so it is the longest a session may
  // live, not its TTL: keepalives move the annotation, and the reaper enforces it. A warm pod's
  // leaves room for its wait too; its claim lowers it to the session's whole lifetime from then.
  const warmSeconds = Math.max(0, Math.ceil(options.warmSeconds ?? 0));
  const pod = sandboxPod(
    settings,
    id,
    "session",
    { seconds: settings.sessionMaxLifetimeSeconds + warmSeconds, at: expiresAt },
    options.warmSeconds !== undefined ? { command: warmSessionInitArgv(), stdin: true, stdinOnce: true } : { command: sessionInitArgv() },
    options.env,
    options.egress,
  );
  // An annotation, not a label: tenant names need not fit label value rules.
  if (tenant !== undefined && pod.metadata?.annotations) pod.metadata.annotations[TENANT_KEY] = tenant;
  if (options.warmSeconds !== undefined && pod.metadata?.labels) pod.metadata.labels[WARM_LABEL_KEY] = "true";
  return pod;
}

/** Where a pod with egress reaches the egress proxy (its TCP listener): the one destination its lockdown lets through. */
export interface PodEgressAddress {
  host: string;
  port: number;
}

/** The small volume the egress forwarder writes the CA bundle to (the image's CAs and the proxy's), at EGRESS_MOUNT_PATH. */
const EGRESS_VOLUME = "egress";

function sandboxPod(
  settings: KubernetesBackendSettings,
  name: string,
  component: "exec" | "session",
  deadline: { seconds: number; at: number },
  main: Pick<V1Container, "command" | "stdin" | "stdinOnce">,
  env: Record<string, string> = codeEnvVariables(settings),
  egress?: PodEgressAddress,
): V1Pod {
  const uid = settings.sandboxUid;
  const emptyDir = { medium: "Memory", sizeLimit: `${settings.workspaceSizeMb}Mi` };
  const memory = podMemory(settings);
  const resources = {
    requests: {
      cpu: String(settings.cpuRequest),
      memory: memory.request,
      "ephemeral-storage": `${settings.ephemeralStorageMb}Mi`,
    },
    limits: { cpu: String(settings.cpus), memory: memory.limit, "ephemeral-storage": `${settings.ephemeralStorageMb}Mi` },
  };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      // The runtime label lets a server's default and gVisor backends each find only their own pods.
      labels: { ...settings.labels, ...sandboxLabels(component), [RUNTIME_LABEL_KEY]: settings.sandboxRuntime },
      annotations: { [EXPIRES_AT_KEY]: String(deadline.at) },
      ...(settings.owner ? { ownerReferences: [{ ...settings.owner, controller: false, blockOwnerDeletion: false }] } : {}),
    },
    spec: {
      restartPolicy: "Never",
      activeDeadlineSeconds: deadline.seconds,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // No cluster DNS: a resolver would be a channel out (queries carry data) even where the NetworkPolicy is not
      // enforced. Kubernetes needs one nameserver with dnsPolicy None; loopback, where nothing answers, fails at once.
      // Names are the egress proxy's to resolve.
      dnsPolicy: "None",
      dnsConfig: { nameservers: ["127.0.0.1"] },
      ...(settings.serviceAccountName ? { serviceAccountName: settings.serviceAccountName } : {}),
      ...(podRuntimeClass(settings) ? { runtimeClassName: podRuntimeClass(settings) } : {}),
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      terminationGracePeriodSeconds: 1,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        fsGroup: uid,
        seccompProfile: podSeccompProfile(settings),
      },
      ...(settings.netAdminLockdown ? { initContainers: [lockdownContainer(settings, egress)] } : {}),
      containers: [
        {
          name: EXECUTOR_CONTAINER,
          image: settings.image,
          imagePullPolicy: "IfNotPresent",
          ...main,
          tty: false,
          env: Object.entries(env).map(([name, value]) => ({ name, value })),
          workingDir: WORKSPACE_DIR,
          securityContext: restrictedSecurityContext(settings),
          resources,
          volumeMounts: [
            { name: "workspace", mountPath: WORKSPACE_DIR },
            { name: "tmp", mountPath: "/tmp" },
            ...(egress ? [{ name: EGRESS_VOLUME, mountPath: EGRESS_MOUNT_PATH }] : []),
          ],
        },
      ],
      volumes: [
        { name: "workspace", emptyDir },
        { name: "tmp", emptyDir },
        ...(settings.netAdminLockdown ? [{ name: "lockdown-run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } }] : []),
        ...(egress ? [{ name: EGRESS_VOLUME, emptyDir: { medium: "Memory", sizeLimit: "2Mi" } }] : []),
      ],
    },
  };
}

const MI = 1024 * 1024;

/**
 * The executor's memory request and limit: the memory limit itself, or under gVisor (where the pod's
 * cgroup also holds gVisor's kernel, and each process of the code costs host memory) the request adds
 * gVisor's own overhead and the limit also room for `maxProcesses` processes (core's gvisorMemoryBytes),
 * so a fork bomb RLIMIT_NPROC holds is not OOM-killed first.
 */
export function podMemory(settings: Pick<KubernetesBackendSettings, "memoryLimitMb" | "maxProcesses" | "sandboxRuntime">): {
  request: string;
  limit: string;
} {
  if (settings.sandboxRuntime !== "gvisor") return { request: `${settings.memoryLimitMb}Mi`, limit: `${settings.memoryLimitMb}Mi` };
  const memoryBytes = settings.memoryLimitMb * MI;
  return {
    request: `${Math.ceil((memoryBytes + GVISOR_OVERHEAD_BYTES) / MI)}Mi`,
    limit: `${Math.ceil(gvisorMemoryBytes(memoryBytes, settings.maxProcesses) / MI)}Mi`,
  };
}

/**
 * The one exception to "restricted": root with NET_ADMIN only, in an init
 * container that exits before any code runs. With egress it lets the proxy's
 * address and port through.
 */
function lockdownContainer(settings: KubernetesBackendSettings, egress: PodEgressAddress | undefined): V1Container {
  return {
    name: LOCKDOWN_CONTAINER,
    image: settings.lockdownImage ?? settings.image,
    imagePullPolicy: "IfNotPresent",
    command: ["sh", "-c", LOCKDOWN_SCRIPT],
    ...(egress
      ? {
          env: [
            { name: "PROXY_ADDRESS", value: egress.host },
            { name: "PROXY_PORT", value: String(egress.port) },
          ],
        }
      : {}),
    securityContext: {
      runAsNonRoot: false,
      runAsUser: 0,
      runAsGroup: 0,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
      // Not the sandbox's profile: iptables and nft talk netlink, which that refuses to code.
      seccompProfile: { type: "RuntimeDefault" },
    },
    resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
    // iptables takes its lock under /run, which the read-only root cannot hold.
    volumeMounts: [{ name: "lockdown-run", mountPath: "/run" }],
  };
}
