/** A `Status` body as the API server sends it with every error. */
export interface ApiStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: { name?: string; kind?: string; causes?: { reason?: string; message?: string; field?: string }[] };
  code?: number;
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "AlreadyExists",
  415: "UnsupportedMediaType",
  422: "Invalid",
  500: "InternalError",
  503: "ServiceUnavailable",
};

/** A Failure status with the reason the real API server uses for that code. */
export function failure(code: number, message: string, details?: ApiStatus["details"], reason?: string): ApiStatus {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: reason ?? REASONS[code] ?? "Unknown",
    ...(details ? { details } : {}),
    code,
  };
}

/** 404 for a pod, worded like the API server. */
export function podNotFound(name: string): ApiStatus {
  return failure(404, `pods "${name}" not found`, { name, kind: "pods" });
}

/** The channel-3 status of a finished exec: Success, or NonZeroExitCode with the code as a cause. */
export function exitStatus(exitCode: number): ApiStatus {
  if (exitCode === 0) return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success" };
  return {
    ...failure(500, `command terminated with non-zero exit code: exit status ${exitCode}`, {
      causes: [{ reason: "ExitCode", message: String(exitCode) }],
    }),
    reason: "NonZeroExitCode",
    code: undefined,
  };
}
