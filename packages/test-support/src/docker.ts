import Dockerode from "dockerode";

/** A Docker engine client on the default socket (DOCKER_HOST when set). */
export const docker = new Dockerode();

/** Labels as `key=value` pairs, or already written so (`app=code-interpreter`). */
export type Labels = Record<string, string> | readonly string[];

function labelFilter(labels: Labels): string[] {
  return Array.isArray(labels) ? [...labels] : Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}

/** A container's name without the leading slash (its id when it has none). */
export function containerName(container: Dockerode.ContainerInfo): string {
  return container.Names[0]?.replace(/^\//, "") ?? container.Id;
}

/** Options of `containersLabelled`. */
export interface ContainersLabelledOptions {
  /** The engine to ask. @default `docker` */
  engine?: Dockerode;
  /** Leaves out the containers this says are not leftovers (warm ones waiting in a pool, another run's). */
  ignore?: (container: Dockerode.ContainerInfo) => boolean;
}

/** Every container, running or not, carrying all of `labels`: the leftover check of the Docker-backed suites. */
export async function containersLabelled(labels: Labels, options: ContainersLabelledOptions = {}): Promise<Dockerode.ContainerInfo[]> {
  const engine = options.engine ?? docker;
  const containers = await engine.listContainers({ all: true, filters: { label: labelFilter(labels) } });
  return options.ignore ? containers.filter((container) => !options.ignore?.(container)) : containers;
}

/** Force-removes every container carrying all of `labels` (less those `ignore` keeps); returns the names of those it found. */
export async function removeLabelled(labels: Labels, options: ContainersLabelledOptions = {}): Promise<string[]> {
  const engine = options.engine ?? docker;
  const containers = await containersLabelled(labels, options);
  await Promise.all(
    containers.map((container) =>
      engine
        .getContainer(container.Id)
        .remove({ force: true })
        .catch(() => {}),
    ),
  );
  return containers.map(containerName);
}

/**
 * Whether a Docker engine answers and has `image`. Under CI=true their
 * absence fails the file (nothing is silently skipped there); locally the
 * tests are skipped with the reason.
 */
export async function dockerAvailable(options: { image: string; purpose: string; engine?: Dockerode }): Promise<boolean> {
  const reason = await dockerMissing(options.image, options.engine);
  return available(reason && `${options.purpose} need a Docker engine and the executor image ${options.image}: ${reason}`);
}

/** Why Docker cannot run `image` here, or undefined when it can. */
export async function dockerMissing(image: string, engine: Dockerode = docker): Promise<string | undefined> {
  try {
    await engine.ping();
  } catch (error) {
    return `the Docker engine does not answer (${(error as Error).message})`;
  }
  try {
    await engine.getImage(image).inspect();
  } catch {
    return `the image ${image} is not on the engine (build it: bash images/executor/build-offline.sh)`;
  }
  return undefined;
}

/**
 * `true` when nothing is missing; otherwise throws under CI=true, and
 * elsewhere warns with the reason and answers `false` (the caller skips).
 */
export function available(missing: string | undefined): boolean {
  if (!missing) return true;
  if (process.env.CI === "true") throw new Error(missing);
  console.warn(`Skipping: ${missing}`);
  return false;
}
