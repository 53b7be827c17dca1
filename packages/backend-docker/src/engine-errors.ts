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
 * The engine's own words, fit to show a person: its message without the
 * client's `(HTTP code …)` prefix, container ids or a trailing `: unknown`, on one line.
 */
export function engineMessage(error: unknown): string {
  const json = (error as { json?: { message?: unknown } } | null)?.json;
  const raw = typeof json?.message === "string" ? json.message : String((error as Error)?.message ?? error);
  return (
    raw
      .replace(/^\(HTTP code \d+\)[^-]*- /, "")
      .replace(/\b[0-9a-f]{64}\b/g, "<id>")
      // The engine's own state files say nothing a person can act on.
      .replace(/ ?\(open \/[^)]*\)/g, "")
      .replace(/(: unknown)+\s*$/, "")
      .replace(/\s+/g, " ")
      .trim()
      .slice(0, 500)
  );
}

/** Where to look when the engine refuses the sandbox it was asked for. */
function refusalHint(settings: { image: string; runtime?: string }): string {
  const runtime = settings.runtime ? `runtime ${settings.runtime} (PYTHON_EXECUTOR_DOCKER_RUNTIME)` : "the engine's default runtime";
  return `image ${settings.image}, ${runtime}; check that runtime and the limits (MEMORY_LIMIT_MB, CPU_TIME_LIMIT_SEC), or run \`code-interpreter doctor\``;
}

/**
 * Our typed errors pass through; a dead connection or a missing image becomes
 * BackendUnavailableError (HTTP 503); so does a sandbox the engine refuses to
 * create or start (a 400 for a configuration it will not take, a 5xx such as
 * `OCI runtime create failed`), with the engine's reason and where to look.
 * Anything else (a 404 or 409 the caller expects) stays as it is.
 */
export function toBackendError(error: unknown, docker: Dockerode, image: string, runtime?: string): unknown {
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
  if (status === 400 || (status !== undefined && status >= 500)) {
    return new BackendUnavailableError({
      message: `the Docker engine refused to run the sandbox: ${engineMessage(error)} (${refusalHint({ image, runtime })})`,
      cause: error,
    });
  }
  return error;
}

function isConnectionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return (
    typeof code === "string" && ["ECONNREFUSED", "ENOENT", "EACCES", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH"].includes(code)
  );
}
