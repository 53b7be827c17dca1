import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { KubeConfig, V1Pod, V1RuntimeClass } from "@kubernetes/client-node";
import Dockerode from "dockerode";
import { WebSocketServer } from "ws";
import { type ApiStatus, failure, podNotFound } from "./api-status.js";
import { DockerPods } from "./docker-pods.js";
import { Faults } from "./faults.js";
import { kubeConfigFor, kubeconfigYaml } from "./kubeconfig.js";
import { matchesSelector } from "./label-selector.js";
import { mergePatch } from "./merge-patch.js";
import { createPodNetwork, type PodNetwork } from "./pod-network.js";
import { type PodRecord, timestamp } from "./pod-record.js";
import type { PodRuntime } from "./pod-runtime.js";
import { DNS_LABEL, DNS_SUBDOMAIN, validatePod, validatePodUpdate } from "./pod-validation.js";
import { ProcessPods } from "./process-pods.js";
import { serveStream } from "./stream-endpoint.js";

const POD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?(?:\/(exec|attach))?$/;
const DEPLOYMENT_PATH = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/;
const RUNTIME_CLASS_PATH = /^\/apis\/node\.k8s\.io\/v1\/runtimeclasses(?:\/([^/]+))?$/;
const STREAM_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"] as const;

export interface KubernetesDoubleOptions {
  /**
   * What runs the pods: `"docker"` containers on the local engine, or
   * `"process"` bubblewrap sandboxes on this host (the image is ignored).
   * @default Docker when an engine answers (and has `image`, when given), else process
   */
  runtime?: "docker" | "process";
  /** Image the pods will use; without it on the engine, the default runtime is process. */
  image?: string;
  /** Engine that runs the pods. @default the local engine (DOCKER_HOST, else the socket) */
  docker?: Dockerode;
  /** Extra labels on every Docker container the double starts, e.g. a test run id (Docker runtime). @default {} */
  labels?: Record<string, string>;
  /**
   * Process runtime: the root filesystem standing in for the image, bound read-only as every container's `/`
   * (e.g. the prepared sandbox environment, which the executor image is made from). @default the host's /usr
   */
  rootfs?: string;
  /**
   * The node's seccomp root, where `Localhost` profiles are read from as a kubelet reads /var/lib/kubelet/seccomp
   * (the process runtime compiles them into bubblewrap's filter). @default none: such pods stay Pending (CreateContainerError)
   */
  seccompProfileRoot?: string;
  /** Processes per pod, like the kubelet's `podPidsLimit` (per sandbox with the process runtime). @default 256 */
  podPidsLimit?: number;
  /**
   * Docker runtime: `"internal"` puts every pod on a Docker network the double makes (an internal
   * bridge: no route beyond the host) instead of no network, so pods reach the host at
   * `podNetworkGateway` (a test's egress proxy listens there). NetworkPolicy is not enforced. @default "none"
   */
  podNetwork?: "none" | "internal";
  /** Remote-command subprotocols offered, best first. @default v5 then v4 */
  streamProtocols?: readonly (typeof STREAM_PROTOCOLS)[number][];
}

/** One request the double answered, for tests that count retries. */
export interface RecordedRequest {
  verb: string;
  path: string;
  status: number;
}

/**
 * A Kubernetes API server double on 127.0.0.1: the pod routes, exec and
 * attach over WebSocket, and a tiny slice of apps/v1, served over real HTTP
 * to the real client. Pods really run: as containers on the local Docker
 * engine when one is present, otherwise as bubblewrap sandboxes. Only for tests: no authentication, no persistence, one container
 * per pod (plus init containers).
 */
export class KubernetesDouble {
  /** Wrong answers and stuck pods, planned by tests. */
  readonly faults = new Faults();
  /** Every request answered, in order. */
  readonly requests: RecordedRequest[] = [];
  readonly instanceId = randomUUID();
  private readonly pods = new Map<string, PodRecord>();
  private readonly deployments = new Map<string, Record<string, unknown>>();
  /** RuntimeClass objects (cluster-scoped), by name. */
  private readonly runtimeClasses = new Map<string, V1RuntimeClass>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly sockets = new WebSocketServer({ noServer: true, handleProtocols: (offered) => this.pickProtocol(offered) });
  /** What runs the pods: `"docker"` or `"process"`. */
  readonly runtimeName: "docker" | "process";
  private readonly runtime: PodRuntime;
  private resourceVersion = 1;

  private constructor(
    private readonly server: Server,
    docker: Dockerode | undefined,
    private readonly options: KubernetesDoubleOptions,
    private readonly podNetwork?: PodNetwork,
  ) {
    const common = {
      instanceId: this.instanceId,
      podPidsLimit: options.podPidsLimit ?? 256,
      touch: (record: PodRecord) => this.touch(record),
    };
    this.runtimeName = docker ? "docker" : "process";
    this.runtime = docker
      ? new DockerPods({
          ...common,
          docker,
          labels: options.labels ?? {},
          seccompProfileRoot: options.seccompProfileRoot,
          ...(podNetwork ? { network: podNetwork.name } : {}),
        })
      : new ProcessPods({ ...common, rootfs: options.rootfs, seccompProfileRoot: options.seccompProfileRoot });
  }

  /**
   * Starts the double on a random loopback port. With `runtime: "docker"` it
   * throws when no Docker engine answers (pods could not run).
   */
  static async start(options: KubernetesDoubleOptions = {}): Promise<KubernetesDouble> {
    const docker = await chooseDocker(options);
    if (options.podNetwork === "internal" && !docker) throw new Error('podNetwork "internal" needs the Docker runtime');
    const podNetwork = options.podNetwork === "internal" && docker ? await createPodNetwork(docker, options.labels ?? {}) : undefined;
    const server = createServer();
    const double = new KubernetesDouble(server, docker, options, podNetwork);
    server.on("request", (request, response) => double.handle(request, response));
    server.on("upgrade", (request, socket, head) => double.upgrade(request, socket as Socket, head));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return double;
  }

  /** The host's address on the pods' network (`podNetwork: "internal"`), where they reach a test's egress proxy; undefined otherwise. */
  get podNetworkGateway(): string | undefined {
    return this.podNetwork?.gateway;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A client configuration pointing at the double. */
  kubeConfig(namespace = "default"): KubeConfig {
    return kubeConfigFor(this.url, namespace);
  }

  /** Writes a kubeconfig file pointing at the double (for KUBECONFIG). */
  async writeKubeconfig(path: string, namespace = "default"): Promise<void> {
    await writeFile(path, kubeconfigYaml(this.url, namespace), { mode: 0o600 });
  }

  /** A copy of a stored pod, as the API holds it. */
  pod(namespace: string, name: string): V1Pod | undefined {
    const record = this.pods.get(`${namespace}/${name}`);
    return record ? structuredClone(record.pod) : undefined;
  }

  /** Copies of the stored pods, optionally of one namespace. */
  listPods(namespace?: string): V1Pod[] {
    return [...this.pods.values()]
      .filter((record) => namespace === undefined || record.pod.metadata?.namespace === namespace)
      .map((record) => structuredClone(record.pod));
  }

  /** Stores a pod directly, as another client (an earlier server) would have; it runs like any other. */
  async createPodDirectly(namespace: string, pod: V1Pod): Promise<V1Pod> {
    const response = await fetch(`${this.url}/api/v1/namespaces/${namespace}/pods`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(pod),
    });
    if (!response.ok) throw new Error(`creating the pod failed: ${response.status} ${await response.text()}`);
    return (await response.json()) as V1Pod;
  }

  /** Adds a Deployment (only its metadata), e.g. the server's own, for owner references. */
  addDeployment(namespace: string, name: string): { apiVersion: string; kind: string; name: string; uid: string } {
    const uid = randomUUID();
    this.deployments.set(`${namespace}/${name}`, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace, uid, resourceVersion: String(this.resourceVersion++) },
    });
    return { apiVersion: "apps/v1", kind: "Deployment", name, uid };
  }

  /**
   * Adds a RuntimeClass, as `kubectl apply` of deploy/runtimeclass.yaml would: pods naming it run with its
   * `handler` (`runc` is the node's default runtime; `runsc`, gVisor, needs the Docker runtime with runsc registered).
   */
  addRuntimeClass(name: string, handler: string): V1RuntimeClass {
    const runtimeClass = this.storeRuntimeClass({ apiVersion: "node.k8s.io/v1", kind: "RuntimeClass", metadata: { name }, handler });
    return structuredClone(runtimeClass);
  }

  /** What this double's runtime still holds: Docker containers running or stopped, or sandboxes and pod directories. */
  containers(): Promise<string[]> {
    return this.runtime.leftovers();
  }

  /** Deletes every pod (and its containers) and stops serving. */
  async stop(): Promise<void> {
    await Promise.all([...this.pods.values()].map((record) => this.runtime.remove(record)));
    this.pods.clear();
    await Promise.allSettled([...this.running]);
    for (const client of this.sockets.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.runtime.close();
    await this.podNetwork?.remove();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://double");
    const verb = request.method ?? "GET";
    const answer = (status: number, body: unknown) => {
      this.requests.push({ verb, path: url.pathname, status });
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    try {
      const body = await readBody(request);
      const fault = this.faults.take(verb, url.pathname);
      if (fault !== undefined) return answer(fault, injected(fault, url.pathname));
      const deployment = DEPLOYMENT_PATH.exec(url.pathname);
      if (deployment && verb === "GET") {
        const found = this.deployments.get(`${deployment[1]}/${deployment[2]}`);
        return found ? answer(200, found) : answer(404, failure(404, `deployments.apps "${deployment[2]}" not found`));
      }
      const runtimeClass = RUNTIME_CLASS_PATH.exec(url.pathname);
      if (runtimeClass) return answer(...this.runtimeClassRoute(verb, runtimeClass[1], body));
      const match = POD_PATH.exec(url.pathname);
      if (!match) return answer(404, failure(404, "the server could not find the requested resource"));
      const [, namespace = "", name, sub] = match;
      if (sub) return answer(400, failure(400, "Upgrade request required"));
      const result = name
        ? this.onePod(verb, namespace, name, body, request.headers["content-type"])
        : this.allPods(verb, namespace, body, url.searchParams);
      const [status, payload] = await result;
      return answer(status, payload);
    } catch (error) {
      return answer(500, failure(500, `the double failed: ${(error as Error).message}`));
    }
  }

  private async allPods(verb: string, namespace: string, body: unknown, query: URLSearchParams): Promise<[number, unknown]> {
    if (verb === "GET") {
      const selector = query.get("labelSelector") ?? undefined;
      const items = this.listPods(namespace).filter((pod) => matchesSelector(pod.metadata?.labels, selector));
      return [200, { kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: String(this.resourceVersion) }, items }];
    }
    if (verb !== "POST") return [405, failure(405, `the server does not allow this method on the requested resource`)];
    const pod = (body ?? {}) as V1Pod;
    const problems = validatePod(pod);
    const name = pod.metadata?.name ?? "";
    if (problems.length > 0) return [422, invalid(name, problems)];
    if (pod.metadata?.namespace && pod.metadata.namespace !== namespace) {
      return [400, failure(400, "the namespace of the provided object does not match the namespace sent on the request")];
    }
    const runtimeClassName = pod.spec?.runtimeClassName;
    const runtimeClass = runtimeClassName === undefined ? undefined : this.runtimeClasses.get(runtimeClassName);
    if (runtimeClassName !== undefined && !runtimeClass) {
      // The RuntimeClass admission plugin's answer: the pod is never stored.
      return [
        403,
        failure(403, `pods "${name}" is forbidden: pod rejected: RuntimeClass "${runtimeClassName}" not found`, { name, kind: "pods" }),
      ];
    }
    const key = `${namespace}/${name}`;
    if (this.pods.has(key)) return [409, failure(409, `pods "${name}" already exists`, { name, kind: "pods" })];
    const record: PodRecord = {
      pod: {
        ...pod,
        apiVersion: "v1",
        kind: "Pod",
        metadata: { ...pod.metadata, namespace, uid: randomUUID(), creationTimestamp: timestamp() as unknown as Date },
        status: { phase: "Pending", qosClass: "Guaranteed" },
      },
      containers: new Map(),
      deleted: false,
      ...(runtimeClass ? { handler: runtimeClass.handler } : {}),
    };
    this.pods.set(key, record);
    this.touch(record);
    const run = this.runtime.run(record, this.faults).catch((error: Error) => {
      if (record.deleted) return;
      record.pod.status = { ...record.pod.status, phase: "Failed", reason: "DoubleError", message: error.message };
      this.touch(record);
    });
    this.running.add(run);
    run.finally(() => this.running.delete(run));
    return [201, structuredClone(record.pod)];
  }

  private async onePod(verb: string, namespace: string, name: string, body: unknown, type: string | undefined): Promise<[number, unknown]> {
    const key = `${namespace}/${name}`;
    const record = this.pods.get(key);
    if (!record) return [404, podNotFound(name)];
    if (verb === "GET") return [200, structuredClone(record.pod)];
    if (verb === "DELETE") {
      // Like a kubelet with grace period 0, but the object goes only once its containers have.
      record.pod.metadata = { ...record.pod.metadata, deletionTimestamp: timestamp() as unknown as Date, deletionGracePeriodSeconds: 0 };
      record.removing ??= this.runtime.remove(record).finally(() => this.pods.delete(key));
      await record.removing;
      return [200, structuredClone(record.pod)];
    }
    if (verb === "PATCH") {
      const kind = (type ?? "").split(";")[0]?.trim();
      if (kind !== "application/merge-patch+json" && kind !== "application/strategic-merge-patch+json") {
        return [
          415,
          failure(
            415,
            `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json`,
          ),
        ];
      }
      const patched = mergePatch(record.pod, body) as V1Pod;
      const problems = validatePodUpdate(record.pod, patched);
      if (problems.length > 0) return [422, invalid(name, problems)];
      record.pod = { ...patched, status: record.pod.status };
      this.touch(record);
      return [200, structuredClone(record.pod)];
    }
    return [405, failure(405, "the server does not allow this method on the requested resource")];
  }

  /** `node.k8s.io/v1` RuntimeClass: list, read, create (cluster-scoped; `handler` required, immutable, never deleted here). */
  private runtimeClassRoute(verb: string, name: string | undefined, body: unknown): [number, unknown] {
    if (name !== undefined) {
      if (verb !== "GET") return [405, failure(405, "the server does not allow this method on the requested resource")];
      const found = this.runtimeClasses.get(name);
      return found
        ? [200, structuredClone(found)]
        : [404, failure(404, `runtimeclasses.node.k8s.io "${name}" not found`, { name, kind: "runtimeclasses" })];
    }
    if (verb === "GET") {
      const items = [...this.runtimeClasses.values()].map((item) => structuredClone(item));
      return [
        200,
        { kind: "RuntimeClassList", apiVersion: "node.k8s.io/v1", metadata: { resourceVersion: String(this.resourceVersion) }, items },
      ];
    }
    if (verb !== "POST") return [405, failure(405, "the server does not allow this method on the requested resource")];
    const runtimeClass = (body ?? {}) as V1RuntimeClass;
    const className = runtimeClass.metadata?.name ?? "";
    const problems = [
      ...(DNS_SUBDOMAIN.test(className) ? [] : [{ field: "metadata.name", message: `Invalid value: "${className}"` }]),
      ...(typeof runtimeClass.handler === "string" && DNS_LABEL.test(runtimeClass.handler)
        ? []
        : [{ field: "handler", message: "Invalid value: a lowercase RFC 1123 label is required" }]),
    ];
    if (problems.length > 0) {
      const message = `RuntimeClass.node.k8s.io "${className}" is invalid: ${problems.map((problem) => `${problem.field}: ${problem.message}`).join(", ")}`;
      return [422, failure(422, message, { name: className, kind: "RuntimeClass" })];
    }
    if (this.runtimeClasses.has(className)) {
      return [409, failure(409, `runtimeclasses.node.k8s.io "${className}" already exists`, { name: className, kind: "runtimeclasses" })];
    }
    return [201, structuredClone(this.storeRuntimeClass(runtimeClass))];
  }

  private storeRuntimeClass(runtimeClass: V1RuntimeClass): V1RuntimeClass {
    const name = runtimeClass.metadata?.name ?? "";
    const stored: V1RuntimeClass = {
      ...runtimeClass,
      apiVersion: "node.k8s.io/v1",
      kind: "RuntimeClass",
      metadata: {
        ...runtimeClass.metadata,
        name,
        uid: randomUUID(),
        resourceVersion: String(++this.resourceVersion),
        creationTimestamp: timestamp() as unknown as Date,
      },
    };
    this.runtimeClasses.set(name, stored);
    return stored;
  }

  private upgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(request.url ?? "/", "http://double");
    const verb = request.method ?? "GET";
    const refuse = (status: number, body: ApiStatus) => {
      this.requests.push({ verb, path: url.pathname, status });
      const text = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${status} ${body.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    };
    const fault = this.faults.take(verb, url.pathname);
    if (fault !== undefined) {
      refuse(fault, injected(fault, url.pathname));
      return;
    }
    const match = POD_PATH.exec(url.pathname);
    const [, namespace = "", name = "", kind] = match ?? [];
    if (!match || !kind) {
      refuse(404, failure(404, "the server could not find the requested resource"));
      return;
    }
    const record = this.pods.get(`${namespace}/${name}`);
    if (!record) {
      refuse(404, podNotFound(name));
      return;
    }
    const container = url.searchParams.get("container") ?? record.pod.spec?.containers[0]?.name ?? "";
    const containerId = record.containers.get(container);
    const stream = {
      kind: kind as "exec" | "attach",
      command: url.searchParams.getAll("command"),
      stdin: url.searchParams.get("stdin") === "true",
      stdout: url.searchParams.get("stdout") === "true",
      stderr: url.searchParams.get("stderr") === "true",
    };
    if (record.pod.status?.phase !== "Running" || !containerId) {
      refuse(
        400,
        failure(400, `unable to upgrade connection: container ${container} not found in pod ${name} (phase ${record.pod.status?.phase})`),
      );
      return;
    }
    this.sockets.handleUpgrade(request, socket, head, (ws) => {
      this.requests.push({ verb, path: url.pathname, status: 101 });
      const served = serveStream(ws, stream, (sinks) => this.runtime.openStream(record, container, stream, sinks)).catch(() =>
        ws.terminate(),
      );
      this.running.add(served);
      served.finally(() => this.running.delete(served));
    });
  }

  private pickProtocol(offered: Set<string>): string | false {
    return (this.options.streamProtocols ?? STREAM_PROTOCOLS).find((protocol) => offered.has(protocol)) ?? false;
  }

  private touch(record: PodRecord): void {
    record.pod.metadata = { ...record.pod.metadata, resourceVersion: String(++this.resourceVersion) };
  }
}

/** The engine to run pods on, or undefined for the process runtime. */
async function chooseDocker(options: KubernetesDoubleOptions): Promise<Dockerode | undefined> {
  if (options.runtime === "process") return undefined;
  const docker = options.docker ?? new Dockerode();
  try {
    await docker.ping();
  } catch (error) {
    if (options.runtime === "docker") {
      throw new Error(`the Kubernetes double runs pods on Docker, and no Docker engine answers: ${(error as Error).message}`);
    }
    return undefined;
  }
  if (options.runtime === "docker" || !options.image) return docker;
  const present = await docker
    .getImage(options.image)
    .inspect()
    .then(() => true)
    .catch(() => false);
  return present ? docker : undefined;
}

function invalid(name: string, problems: { field: string; message: string }[]): ApiStatus {
  const message = `Pod "${name}" is invalid: ${problems.map((problem) => `${problem.field}: ${problem.message}`).join(", ")}`;
  return failure(422, message, { name, kind: "Pod", causes: problems.map((problem) => ({ reason: "FieldValueInvalid", ...problem })) });
}

function injected(status: number, path: string): ApiStatus {
  const name = path.split("/")[6] ?? "";
  if (status === 404) return podNotFound(name);
  if (status === 409) {
    return failure(
      409,
      `Operation cannot be fulfilled on pods "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, kind: "pods" },
      "Conflict",
    );
  }
  return failure(status, `injected failure (${status}) from the Kubernetes double`);
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return undefined;
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}
