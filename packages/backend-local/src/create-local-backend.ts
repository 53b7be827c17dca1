import { execFileSync } from "node:child_process";
import { chmod, mkdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BackendUnavailableError } from "@code-interpreter/core";
import { withinMs } from "@code-interpreter/core/engine";
import { PREPARE_ROOTFS_SCRIPT, readRootfsManifest, sandboxEnvironment } from "@code-interpreter/core/sandbox";
import { LocalBackend } from "./local-backend.js";
import { defaultLocalBackendSettings, type LocalBackendSettings } from "./local-backend-settings.js";

/**
 * Builds a local backend, checking that bubblewrap works here and that the
 * sandbox environment (the root filesystem every sandbox runs in) is
 * prepared. Without bubblewrap, `sandbox: "require"` throws; `auto` warns
 * that code is not isolated and runs it with rlimits only, on this host's
 * Python. Without the prepared root filesystem it throws, saying how to
 * prepare it: code never silently runs on whatever this host has installed.
 */
export async function createLocalBackend(overrides: Partial<LocalBackendSettings> = {}): Promise<LocalBackend> {
  const settings = { ...defaultLocalBackendSettings(), ...overrides };
  // bubblewrap runs as the sandbox uid and must reach session workspaces by path.
  await mkdir(join(settings.stateDir, "sessions"), { recursive: true, mode: 0o711 });
  await chmod(settings.stateDir, 0o711);
  await chmod(join(settings.stateDir, "sessions"), 0o711);
  if (process.getuid?.() === 0) await assertSearchable(settings.stateDir, settings.sandboxUid);
  if (settings.sandboxRuntime === "gvisor") return createGvisorBackend(settings);
  if (settings.sandbox === "off") {
    settings.warn("LOCAL_SANDBOX=off: code runs WITHOUT isolation (rlimits only). Never expose this server.");
    return new LocalBackend(settings, "none");
  }
  // The fork server is the one-shot pool's preloaded interpreter: with the pool off, nothing runs ahead of demand.
  if (settings.pool === false) settings.forkServer = false;
  const missing = bwrapMissing(settings);
  if (!missing) await checkRootfs(settings);
  const problem = missing ?? (await probe({ ...settings, forkServer: false }, "bwrap"));
  if (!problem) {
    const forkServerProblem = settings.forkServer ? await probe(settings, "bwrap") : undefined;
    if (forkServerProblem) {
      // bubblewrap works: the executions keep its isolation, each in a sandbox of its own.
      settings.warn(`the fork server is not usable (${forkServerProblem}); one-shot sandboxes start bubblewrap each`);
      settings.forkServer = false;
    }
    return new LocalBackend(settings, "bwrap");
  }
  if (settings.sandbox === "require") {
    throw new BackendUnavailableError({ message: `bubblewrap sandbox unavailable (LOCAL_SANDBOX=require): ${problem}` });
  }
  settings.warn(
    `WARNING: bubblewrap is not usable (${problem}); code runs WITHOUT isolation (rlimits only), on this host's Python rather than the sandbox environment. ` +
      "Install bubblewrap (apt-get install bubblewrap) or set LOCAL_SANDBOX=require to refuse to start.",
  );
  return new LocalBackend(settings, "none");
}

/**
 * A backend whose sandboxes run under gVisor: runsc must be there, the server
 * must run as root (runsc makes the sandbox's namespaces and cgroup itself),
 * the root filesystem must be prepared, and a test run must answer. Anything
 * else is refused with the reason: there is no fallback to a weaker sandbox.
 */
async function createGvisorBackend(settings: LocalBackendSettings): Promise<LocalBackend> {
  const refuse = (reason: string) =>
    new BackendUnavailableError({ message: `gVisor sandbox unavailable (SANDBOX_RUNTIME=gvisor): ${reason}` });
  if (settings.sandbox === "off") throw refuse("LOCAL_SANDBOX=off runs code without any sandbox; gVisor needs a sandbox");
  if (settings.rootfs === "host") throw refuse("LOCAL_ROOTFS=host: gVisor sandboxes need the prepared root filesystem");
  try {
    execFileSync(settings.runscPath, ["--version"], { stdio: "ignore" });
  } catch {
    throw refuse(`${settings.runscPath} not found; install gVisor (apt-get install runsc) or set LOCAL_RUNSC_PATH`);
  }
  if (process.getuid?.() !== 0) {
    throw refuse(
      "the server does not run as root; runsc needs root to make its sandboxes (rootless runsc has no cgroup and no --network=none isolation here)",
    );
  }
  await checkRootfs(settings);
  await mkdir(join(settings.stateDir, "runsc", "bundles"), { recursive: true, mode: 0o711 });
  await mkdir(join(settings.stateDir, "runsc", "state"), { recursive: true, mode: 0o700 });
  const problem = await probe(settings, "gvisor");
  if (problem) throw refuse(`a test sandbox failed (runsc --platform=${settings.runscPlatform}): ${problem}`);
  return new LocalBackend(settings, "gvisor");
}

/** Fails with a clear message when a parent of the state directory keeps the sandbox uid out. */
async function assertSearchable(dir: string, uid: number): Promise<void> {
  let current = resolve(dir);
  while (true) {
    const info = await stat(current);
    if ((info.mode & 0o001) === 0 && info.uid !== uid) {
      throw new BackendUnavailableError({
        message: `LOCAL_STATE_DIR ${dir} is not reachable by the sandbox uid ${uid}: ${current} is not searchable by others (mode ${(info.mode & 0o777).toString(8)}). Use a directory every parent of which others can search (chmod o+x), like the default under /tmp.`,
      });
    }
    const parent = dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

function bwrapMissing(settings: LocalBackendSettings): string | undefined {
  try {
    execFileSync(settings.bwrapPath, ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return `${settings.bwrapPath} not found`;
  }
}

/**
 * The root filesystem is prepared (its manifest is what a finished build
 * writes last); one built from another declaration only warns, since
 * LOCAL_ROOTFS then names it on purpose.
 */
async function checkRootfs(settings: LocalBackendSettings): Promise<void> {
  if (settings.rootfs === "host") {
    settings.warn("LOCAL_ROOTFS=host: sandboxes run this host's /usr, not the declared sandbox environment (packages may be missing).");
    return;
  }
  const prepare = `sudo bash ${PREPARE_ROOTFS_SCRIPT} (from a code-interpreter checkout; scripts/start.sh runs it)`;
  const manifest = await readRootfsManifest(settings.rootfs);
  if (!manifest) {
    throw new BackendUnavailableError({
      message: `the sandbox environment is not prepared at ${settings.rootfs}: prepare it with ${prepare}, point LOCAL_ROOTFS at a prepared one, or set LOCAL_ROOTFS=host to run this host's Python instead`,
    });
  }
  const declared = sandboxEnvironment();
  if (manifest.hash !== declared.hash) {
    settings.warn(
      `the sandbox environment at ${settings.rootfs} was built from another declaration (${manifest.hash}, this one is ${declared.hash}); rebuild it with LOCAL_ROOTFS=${settings.rootfs} ${prepare}`,
    );
  }
}

/** How long a test run may take past its own timeout before the probe gives up on it (its sandbox's end included). */
const PROBE_GRACE_MS = 30_000;

async function probe(settings: LocalBackendSettings, isolation: "bwrap" | "gvisor"): Promise<string | undefined> {
  // No warm pools: the probe runs once.
  const probe = new LocalBackend({ ...settings, pool: false, sessionPool: false }, isolation);
  const timeoutMs = isolation === "gvisor" ? 30_000 : 10_000;
  const run = async () => {
    try {
      const result = await probe.execute({ code: "print('ok')", timeoutMs, lastLineInteractive: false, files: [] });
      if (result.stdout !== "ok\n") return `a test run printed ${JSON.stringify(result.stdout + result.stderr)}`;
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  };
  try {
    // A test run that never ends (a sandbox whose end is never seen) must not hold the server's start: it is a problem.
    const waitMs = timeoutMs + PROBE_GRACE_MS;
    return await withinMs(run(), waitMs, `a test run did not end within ${waitMs / 1000} s`);
  } finally {
    await probe.close();
  }
}
