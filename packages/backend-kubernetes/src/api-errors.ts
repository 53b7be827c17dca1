import { BackendUnavailableError, CodeInterpreterError } from "@code-interpreter/core";

/** The HTTP status of an API error, if it is one. */
export function apiStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** True when the object is already gone. */
export function isNotFound(error: unknown): boolean {
  return apiStatus(error) === 404;
}

/** The API server's own message from a `Status` body, else the error's message. */
export function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown } | null)?.body;
  if (typeof body === "string") {
    try {
      const status = JSON.parse(body) as { message?: unknown };
      if (typeof status.message === "string") return status.message;
    } catch {
      // not JSON: fall through
    }
  }
  return (error as Error)?.message ?? String(error);
}

/**
 * Our typed errors pass through; an unreachable API, a 5xx or 429, a timeout,
 * a pod the API refuses (400, 422) and refused credentials become
 * BackendUnavailableError (HTTP 503) saying what is wrong; anything else (a
 * 404 or 409 the caller expects) stays.
 */
export function toBackendError(error: unknown, server: string): unknown {
  if (CodeInterpreterError.isInstance(error)) return error;
  const status = apiStatus(error);
  if (status === undefined) {
    const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    const detail = typeof cause?.code === "string" ? cause.code : (error as Error)?.message;
    return new BackendUnavailableError({
      message: `the Kubernetes API does not answer at ${server} (${detail}); check that the cluster is up and that the kubeconfig (KUBECONFIG, or the pod's service account) names its API server`,
      cause: error,
    });
  }
  if (status >= 500 || status === 429) {
    return new BackendUnavailableError({ message: `the Kubernetes API answered ${status}: ${apiMessage(error)}`, cause: error });
  }
  if (status === 400 || status === 422) {
    // The API will not take the pod as configured (a limit, runtime class or image it refuses): the server's settings, not the request.
    return new BackendUnavailableError({
      message: `the Kubernetes API refused the sandbox (${status}: ${apiMessage(error)}); check the KUBERNETES_EXECUTOR_* settings and the limits (MEMORY_LIMIT_MB, CPU_TIME_LIMIT_SEC)`,
      cause: error,
    });
  }
  if (status === 403 && /RuntimeClass/.test(apiMessage(error))) {
    // The RuntimeClass admission plugin refuses pods naming a RuntimeClass the cluster lacks.
    return new BackendUnavailableError({
      message: `the Kubernetes API refused the sandbox (${status}: ${apiMessage(error)}); create the RuntimeClass (deploy/runtimeclass.yaml for gVisor, on nodes with runsc) or set KUBERNETES_EXECUTOR_RUNTIME_CLASS to one that exists`,
      cause: error,
    });
  }
  if (status === 401 || status === 403) {
    return new BackendUnavailableError({
      message: `the Kubernetes API refused the server's credentials (${status}: ${apiMessage(error)}); apply the Role in deploy/ to its service account`,
      cause: error,
    });
  }
  return error;
}
