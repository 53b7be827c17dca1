import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSandboxRuntime, type SandboxRuntime } from "@code-interpreter/core/sandbox";
import { type BackendName, type CheckResult, fail, ok, warn, withTimeout } from "./check.js";

const API_TIMEOUT_MS = 10_000;
/** gVisor starts a sandbox in seconds, more on a loaded machine. */
const TRIAL_TIMEOUT_MS = 120_000;

/**
 * The runtimes the server would offer, as it reads them: SANDBOX_RUNTIMES,
 * else SANDBOX_RUNTIME alone, else `default`. Names that are no runtime are
 * returned apart, for a failing check (the server would not start).
 */
export function offeredRuntimes(env: NodeJS.ProcessEnv = process.env): { runtimes: SandboxRuntime[]; unknown: string[] } {
  const names = (env.SANDBOX_RUNTIMES || env.SANDBOX_RUNTIME || "default")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  return { runtimes: [...new Set(names.filter(isSandboxRuntime))], unknown: names.filter((name) => !isSandboxRuntime(name)) };
}

/**
 * One check per runtime offered (SANDBOX_RUNTIMES) on `backend`: whether it
 * works and its version. gVisor: `runsc --version` and a real sandbox
 * through the local backend; the Docker engine's registered runtimes; the
 * RuntimeClass on Kubernetes. The default runtime is what the backend's own
 * checks above already cover.
 */
export async function checkRuntimes(backend: BackendName, env: NodeJS.ProcessEnv = process.env): Promise<CheckResult[]> {
  const { runtimes, unknown } = offeredRuntimes(env);
  const results: CheckResult[] = unknown.map((name) =>
    fail(`runtime ${name}`, `${JSON.stringify(name)} is not a sandbox runtime`, "SANDBOX_RUNTIMES takes default and gvisor"),
  );
  for (const runtime of runtimes) {
    if (runtime === "default") results.push(ok("runtime default", defaultRuntimeDetail(backend)));
    else if (backend === "local") results.push(await checkLocalGvisor(env));
    else if (backend === "docker") results.push(await checkDockerGvisor(env));
    else results.push(await checkKubernetesGvisor(env));
  }
  return results;
}

function defaultRuntimeDetail(backend: BackendName): string {
  if (backend === "local") return "bubblewrap on this host's kernel (checked above)";
  if (backend === "docker") return "the engine's default OCI runtime (checked above)";
  return "the cluster's default runtime";
}

/** `runsc --version`'s first line, or why it does not run. */
function runscVersion(path: string): { version?: string; error?: string } {
  const run = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (run.error || run.status !== 0) return { error: run.error?.message ?? run.stderr.trim() };
  return { version: run.stdout.trim().split("\n")[0] as string };
}

/** Local gVisor: runsc's version, then `print(1)` in a real gVisor sandbox through the local backend. */
async function checkLocalGvisor(env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const runsc = env.LOCAL_RUNSC_PATH || "runsc";
  const { version, error } = runscVersion(runsc);
  if (!version) {
    return fail(
      "runtime gvisor",
      `${runsc} does not run (${error})`,
      "apt-get install runsc (Debian's gVisor), or set LOCAL_RUNSC_PATH; or leave gvisor out of SANDBOX_RUNTIMES",
    );
  }
  const { createLocalBackend } = await import("@code-interpreter/backend-local");
  const stateDir = await mkdtemp(join(tmpdir(), "code-interpreter-doctor-"));
  let backend: Awaited<ReturnType<typeof createLocalBackend>> | undefined;
  try {
    backend = await createLocalBackend({
      stateDir,
      sandbox: "require",
      sandboxRuntime: "gvisor",
      runscPath: runsc,
      ...(env.LOCAL_RUNSC_PLATFORM ? { runscPlatform: env.LOCAL_RUNSC_PLATFORM } : {}),
      pool: false,
      sessionPool: false,
      warn: () => {},
      ...(env.LOCAL_ROOTFS ? { rootfs: env.LOCAL_ROOTFS } : {}),
    });
    // gVisor's kernel answers /proc/version itself: the same text as the host's means the code ran on the host's kernel.
    const result = await withTimeout(
      backend.execute({ code: "print(open('/proc/version').read().strip())", timeoutMs: 60_000, lastLineInteractive: false, files: [] }),
      TRIAL_TIMEOUT_MS,
      "a gVisor sandbox",
    );
    if (result.exitCode !== 0) {
      return fail(
        "runtime gvisor",
        `${version}; Python in a gVisor sandbox ended ${result.exitCode}: ${result.stderr.trim().slice(-300)}`,
        runscFix,
      );
    }
    if (result.stdout.trim() === readFileSync("/proc/version", "utf8").trim()) {
      return fail(
        "runtime gvisor",
        `${version}; but the local backend ran the code on this host's kernel, not gVisor's`,
        "upgrade @code-interpreter/backend-local to a version with the gvisor runtime",
      );
    }
    return ok("runtime gvisor", `${version}; ran Python in a gVisor sandbox`);
  } catch (caught) {
    return fail("runtime gvisor", `${version}; a gVisor sandbox did not start: ${(caught as Error).message}`, runscFix);
  } finally {
    await backend?.close().catch(() => {});
    await rm(stateDir, { recursive: true, force: true });
  }
}

const runscFix =
  "runsc needs root (or the capabilities to make its sandbox) and its ptrace platform on this host; see the local backend's README, runtimes";

/** Docker's gVisor: the OCI runtime registered with the engine (`docker info`'s Runtimes), and runsc's version where its path is on this host. */
async function checkDockerGvisor(env: NodeJS.ProcessEnv): Promise<CheckResult> {
  // As the server: PYTHON_EXECUTOR_DOCKER_RUNTIME names gVisor's runtime when gvisor is offered.
  const name = env.PYTHON_EXECUTOR_DOCKER_RUNTIME || "runsc";
  let registered: Record<string, { path?: string; runtimeArgs?: string[] }>;
  try {
    const info = (await withTimeout(engineInfo(env), API_TIMEOUT_MS, "the Docker engine")) as {
      Runtimes?: Record<string, { path?: string; runtimeArgs?: string[] }>;
    };
    registered = info.Runtimes ?? {};
  } catch (error) {
    return warn("runtime gvisor", `not checked: the Docker engine does not answer (${(error as Error).message})`);
  }
  const runtime = registered[name];
  if (!runtime) {
    return fail(
      "runtime gvisor",
      `the Docker engine has no runtime ${name}; it has: ${Object.keys(registered).join(", ") || "none"}`,
      `install runsc and register it in /etc/docker/daemon.json ("runtimes": {"${name}": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=none", "--oci-seccomp"]}}), then restart the engine`,
    );
  }
  const path = runtime.path ?? name;
  const { version } = runscVersion(path);
  // The server refuses such a runtime at start-up (the sandbox's seccomp profile would not be loaded): so does doctor.
  const { missingOciSeccomp } = await import("@code-interpreter/backend-docker");
  const missing = missingOciSeccomp(name, runtime.runtimeArgs);
  if (missing) return fail("runtime gvisor", `${missing.problem}${version ? ` (${version})` : ""}`, missing.fix);
  return ok("runtime gvisor", `the Docker engine runs ${name} (${path})${version ? `: ${version}` : ""}`);
}

/** The engine's `GET /info` (what `docker info` shows), at DOCKER_HOST or the default socket. */
function engineInfo(env: NodeJS.ProcessEnv): Promise<unknown> {
  const host = env.DOCKER_HOST || "unix:///var/run/docker.sock";
  const target = host.startsWith("unix://")
    ? { socketPath: host.slice("unix://".length), path: "/info" }
    : { host: new URL(host.replace(/^tcp:/, "http:")).hostname, port: new URL(host.replace(/^tcp:/, "http:")).port, path: "/info" };
  return new Promise((resolve, reject) => {
    const request = httpGet(target, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch (error) {
          reject(error);
        }
      });
    });
    request.on("error", reject);
  });
}

/** Kubernetes' gVisor: the RuntimeClass sandbox pods name, and its handler. */
async function checkKubernetesGvisor(env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const name = env.KUBERNETES_EXECUTOR_RUNTIME_CLASS || "gvisor";
  const { apiMessage, apiStatus, loadKubeConfig } = await import("@code-interpreter/backend-kubernetes");
  const { NodeV1Api } = await import("@kubernetes/client-node");
  try {
    const config = loadKubeConfig(env);
    const runtimeClass = await withTimeout(config.makeApiClient(NodeV1Api).readRuntimeClass({ name }), API_TIMEOUT_MS, "the API server");
    return ok("runtime gvisor", `RuntimeClass ${name} (handler ${runtimeClass.handler})`);
  } catch (error) {
    const status = apiStatus(error);
    if (status === 404) {
      return fail(
        "runtime gvisor",
        `the cluster has no RuntimeClass ${name}`,
        "kubectl apply the gVisor RuntimeClass in deploy/ on a cluster whose nodes run gVisor (or set KUBERNETES_EXECUTOR_RUNTIME_CLASS)",
      );
    }
    return warn(
      "runtime gvisor",
      `could not read RuntimeClass ${name} (${status ?? ""} ${apiMessage(error)}); check by hand: kubectl get runtimeclass ${name}`,
    );
  }
}
