import { BackendUnavailableError, CodeInterpreterError } from "@code-interpreter/core";
import type Dockerode from "dockerode";

/** The HTTP status of an Engine API error, if it is one. */
export function engineStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** True when the container is already gone (or on its way out). */
export function isGone(error: unknown): boolean {
  const status = engineStatus(error);
  return status === 404 || (status === 409 && /removal of container .* is already in progress/i.test(String(error)));
}

/** Where the client connects, for messages. */
export function engineAddress(docker: Dockerode): string {
  const modem = docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown };
  if (typeof modem.socketPath === "string") return `unix://${modem.socketPath}`;
  return `${modem.protocol ?? "http"}://${modem.host ?? "localhost"}${modem.port ? `:${modem.port}` : ""}`;
}

/** What to tell someone whose executor image is missing. */
export function missingImageMessage(image: string): string {
  return (
    `the executor image ${image} does not exist on the Docker engine. Build it with \`pnpm image:build\` ` +
    `(runs \`bash images/executor/build-offline.sh\`, no registry needed), or with registry access ` +
    `\`docker build -t ${image} images/executor\`; or set PYTHON_EXECUTOR_DOCKER_IMAGE to an image you have`
  );
}

/**
 * Our typed errors pass through; a dead connection or a missing image becomes
 * BackendUnavailableError (HTTP 503); anything else is an engine failure and
 * stays as it is.
 */
export function toBackendError(error: unknown, docker: Dockerode, image: string): unknown {
  if (CodeInterpreterError.isInstance(error)) return error;
  const status = engineStatus(error);
  if (status === undefined && isConnectionError(error)) {
    return new BackendUnavailableError({
      message: `the Docker engine does not answer at ${engineAddress(docker)} (${(error as Error).message}); start dockerd or set DOCKER_HOST`,
      cause: error,
    });
  }
  if (status === 404 && /no such image/i.test(String(error))) {
    return new BackendUnavailableError({ message: missingImageMessage(image), cause: error });
  }
  return error;
}

function isConnectionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return (
    typeof code === "string" && ["ECONNREFUSED", "ENOENT", "EACCES", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH"].includes(code)
  );
}
