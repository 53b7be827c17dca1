import type { Readable, Writable } from "node:stream";
import { BackendUnavailableError, CodeInterpreterError } from "@code-interpreter/core";
import {
  AppsV1Api,
  Attach,
  CoreV1Api,
  Exec,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  type V1Status,
} from "@kubernetes/client-node";
import { isNotFound, toBackendError } from "./api-errors.js";

/** The exec or attach WebSocket (the client's `ws` socket). */
export type StreamSocket = Awaited<ReturnType<Exec["exec"]>>;

/** Attempts at deleting a pod before giving up (409 and 5xx answers are retried). */
const DELETE_ATTEMPTS = 4;
const DELETE_BACKOFF_MS = 200;

/**
 * The calls the backend makes, in one place (REQUIRED_PERMISSIONS lists
 * them for RBAC): each bounded in time, with API failures mapped to our
 * typed errors.
 */
export class KubeApi {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  readonly server: string;

  constructor(
    readonly config: KubeConfig,
    readonly namespace: string,
    private readonly timeoutMs: number,
  ) {
    this.core = config.makeApiClient(CoreV1Api);
    this.apps = config.makeApiClient(AppsV1Api);
    this.server = config.getCurrentCluster()?.server ?? "(no cluster in the kubeconfig)";
  }

  createPod(pod: V1Pod): Promise<V1Pod> {
    return this.call(() => this.core.createNamespacedPod({ namespace: this.namespace, body: pod }));
  }

  /** The pod, or undefined when there is none of that name. */
  async readPod(name: string): Promise<V1Pod | undefined> {
    try {
      return await this.call(() => this.core.readNamespacedPod({ name, namespace: this.namespace }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async listPods(labelSelector: string): Promise<V1Pod[]> {
    return (await this.call(() => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector }))).items;
  }

  /** Merges annotations into a pod's metadata (merge patch). */
  patchAnnotations(name: string, annotations: Record<string, string>): Promise<V1Pod> {
    return this.patchMetadata(name, { annotations });
  }

  /**
   * Merges labels and annotations into a pod's metadata (merge patch: `null`
   * removes a key), and `spec` fields a running pod may change (a lower
   * activeDeadlineSeconds), in one request.
   */
  patchMetadata(
    name: string,
    metadata: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> },
    spec?: { activeDeadlineSeconds?: number },
  ): Promise<V1Pod> {
    return this.call(() =>
      this.core.patchNamespacedPod(
        { name, namespace: this.namespace, body: spec ? { metadata, spec } : { metadata } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
    );
  }

  /**
   * Deletes a pod at once (grace period 0), retrying conflicts and server
   * errors a few times. Returns false when the pod was already gone.
   */
  async deletePod(name: string): Promise<boolean> {
    let last: unknown;
    for (let attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, DELETE_BACKOFF_MS * 2 ** (attempt - 1)));
      try {
        await this.core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: 0 });
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        last = error;
      }
    }
    throw toBackendError(last, this.server);
  }

  /** A Deployment's identity, for owner references. */
  async readDeployment(name: string): Promise<{ apiVersion: string; kind: string; name: string; uid: string }> {
    const deployment = await this.call(() => this.apps.readNamespacedDeployment({ name, namespace: this.namespace }));
    const uid = deployment.metadata?.uid;
    if (!uid) throw new BackendUnavailableError({ message: `the Deployment ${name} has no uid` });
    return { apiVersion: "apps/v1", kind: "Deployment", name, uid };
  }

  /** Runs a command in a pod's container over WebSocket; resolves when the socket opens. */
  exec(
    pod: string,
    container: string,
    command: string[],
    streams: { stdout: Writable; stderr: Writable; stdin: Readable },
    onStatus: (status: V1Status) => void,
  ): Promise<StreamSocket> {
    return this.connect(() =>
      new Exec(this.config).exec(this.namespace, pod, container, command, streams.stdout, streams.stderr, streams.stdin, false, onStatus),
    );
  }

  /** Attaches to a pod's container (its stdin, stdout, stderr); resolves when the socket opens. */
  attach(pod: string, container: string, streams: { stdout: Writable; stderr: Writable; stdin: Readable }): Promise<StreamSocket> {
    return this.connect(() =>
      new Attach(this.config).attach(this.namespace, pod, container, streams.stdout, streams.stderr, streams.stdin, false),
    );
  }

  private async connect(open: () => Promise<StreamSocket>): Promise<StreamSocket> {
    try {
      return await this.call(open);
    } catch (error) {
      if (CodeInterpreterError.isInstance(error)) throw error;
      // The upgrade failed: the client reports an ErrorEvent, without the API's status.
      const message = (error as { message?: unknown })?.message ?? String(error);
      throw new BackendUnavailableError({
        message: `could not open a stream to the sandbox pod at ${this.server}: ${message}`,
        cause: error,
      });
    }
  }

  /** One API call, bounded in time, its failure mapped. */
  private async call<T>(operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new BackendUnavailableError({ message: `the Kubernetes API at ${this.server} did not answer within ${this.timeoutMs} ms` }),
          ),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([operation(), timeout]);
    } catch (error) {
      const mapped = toBackendError(error, this.server);
      if (mapped !== error || CodeInterpreterError.isInstance(error)) throw mapped;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
