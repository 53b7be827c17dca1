import { execFile } from "node:child_process";
import { access, readdir, readFile, readlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { WORKSPACE_DIR } from "@code-interpreter/core/engine";
import { defaultRootfs, readRootfsManifest } from "@code-interpreter/core/sandbox";
import type { LocalBackend } from "../local-backend.js";
import { runscOptions } from "../local-driver.js";
import { type OciSpec, runscGlobalArgs } from "../runsc-bundle.js";
import { SESSION_RECORD, WARM_MARKER } from "../session-records.js";

const execFileAsync = promisify(execFile);

/** What the fork server's executions show as their command line (the runner's forkserver.FORKED_TITLE). */
const FORKED_TITLE = "code-interpreter-forked";

/**
 * Sandboxes (bubblewrap, the runner itself without it, or an execution the
 * fork server of a bubblewrap it started forked) that a process
 * started and that are still running (zombies are not), as `pid name`: for tests that check
 * nothing is left behind. Warm sandboxes waiting in a pool (one-shot ones,
 * and those of session directories nobody has claimed) are left out unless
 * `includeWarm`: they are not leftovers while the backend runs.
 */
export async function listSandboxProcesses(
  options: {
    parentPid?: number;
    includeWarm?: boolean;
    /** Names of warm sandboxes the backend holds untaken (`backend.driver.waitingWarm()`), left out too. */
    waiting?: readonly string[];
  } = {},
): Promise<string[]> {
  const parentPid = options.parentPid ?? process.pid;
  const found: string[] = [];
  /** pid → its parent's, for the fork server's executions (its grandchildren: bwrap, the fork server, then them). */
  const parents = new Map<number, number>();
  const forked: { pid: number; name: string }[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const [state, parent] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // A zombie has ended (a sandbox killed after its answer, not yet collected by its parent).
      if (state === "Z") continue;
      parents.set(Number(pid), Number(parent));
      let argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      // An execution the fork server forked: `code-interpreter-forked --hostname <name>` (its runner and code too).
      if (argv[0] === FORKED_TITLE) {
        forked.push({ pid: Number(pid), name: argv[2] ?? "" });
        continue;
      }
      if (Number(parent) !== parentPid) continue;
      let program = argv[0]?.split("/").at(-1);
      // A gVisor sandbox: `runsc … run|restore … --bundle <dir> <id>`, its runner's argv and mounts in the bundle's config.json.
      if (program === "runsc") {
        const runsc = await runscView(argv);
        if (!runsc) continue;
        argv = runsc.argv;
        program = "runsc";
      }
      if (program !== "bwrap" && program !== "runsc" && !program?.startsWith("python")) continue;
      // A warm runner, or the fork server (a pool of its own: its executions are listed below).
      if (!options.includeWarm && (argv.includes("--preload") || argv.includes("--fork-server"))) continue;
      if (!options.includeWarm && (await isUnclaimedWarm(await workspaceOf(pid, argv)))) continue;
      const hostname = argv.indexOf("--hostname");
      const name = hostname >= 0 ? argv[hostname + 1] : undefined;
      if (!options.includeWarm && name !== undefined && options.waiting?.includes(name)) continue;
      found.push(`${pid} ${name ?? program}`);
    } catch {
      // the process ended while we looked
    }
  }
  // The outermost process of each of this parent's forked executions (its parent is the fork server, a child of a
  // bubblewrap the parent started); the execution's runner and code below it are the same sandbox.
  for (const { pid, name } of forked) {
    const forkServer = parents.get(pid);
    const bubblewrap = forkServer === undefined ? undefined : parents.get(forkServer);
    if (bubblewrap === undefined || parents.get(bubblewrap) !== parentPid) continue;
    if (!options.includeWarm && options.waiting?.includes(name)) continue;
    found.push(`${pid} ${name}`);
  }
  return found;
}

/**
 * A runsc sandbox as bubblewrap's argv would show it: the runner's argv, with
 * `--hostname <name>` and `--bind <workspace> /workspace` from its bundle's
 * config.json. Undefined for a runsc command that runs no sandbox (kill, delete, list, checkpoint).
 */
async function runscView(argv: string[]): Promise<{ argv: string[] } | undefined> {
  const bundle = argv.indexOf("--bundle");
  if ((argv.indexOf("run") < 0 && argv.indexOf("restore") < 0) || bundle < 0) return undefined;
  const spec = JSON.parse(await readFile(join(argv[bundle + 1] as string, "config.json"), "utf8")) as OciSpec;
  const workspace = spec.mounts.find((mount) => mount.destination === WORKSPACE_DIR && mount.type === "bind");
  return {
    argv: [
      "runsc",
      "--hostname",
      spec.hostname,
      ...(workspace ? ["--bind", workspace.source, WORKSPACE_DIR] : []),
      "--",
      ...spec.process.args,
    ],
  };
}

/**
 * runsc containers still known in `<stateDir>/runsc/state` (`runsc list`):
 * a sandbox whose `runsc run` was killed without its container.
 */
export async function listRunscContainers(stateDir: string, runscPath = "runsc"): Promise<string[]> {
  const options = runscOptions({ stateDir, runscPath, runscPlatform: "ptrace" });
  try {
    const { stdout } = await execFileAsync(runscPath, [...runscGlobalArgs(options), "list", "--format=json"]);
    const containers = JSON.parse(stdout || "null") as { id: string; status: string }[] | null;
    return (containers ?? []).map((container) => `runsc container ${container.id} (${container.status})`);
  } catch {
    return [];
  }
}

/**
 * The names in `<stateDir>/sessions`, as leftovers: session directories
 * (also one being removed), but not the warm ones waiting unclaimed in a
 * session pool (unless `includeWarm`).
 */
export async function listSessionDirs(stateDir: string, options: { includeWarm?: boolean } = {}): Promise<string[]> {
  const sessionsDir = join(stateDir, "sessions");
  const names = await readdir(sessionsDir).catch(() => []);
  const found: string[] = [];
  for (const name of names) {
    if (options.includeWarm || !(await isUnclaimedWarm(join(sessionsDir, name, "workspace")))) found.push(name);
  }
  return found;
}

/** The host directory a sandbox has as its workspace: bubblewrap's `--bind <dir> /workspace`, or the runner's cwd without it. */
async function workspaceOf(pid: string, argv: string[]): Promise<string | undefined> {
  const bind = argv.findIndex((arg, index) => arg === "--bind" && argv[index + 2] === WORKSPACE_DIR);
  if (bind >= 0) return argv[bind + 1];
  return ["bwrap", "runsc"].includes(argv[0]?.split("/").at(-1) ?? "") ? undefined : readlink(`/proc/${pid}/cwd`).catch(() => undefined);
}

/** A session directory marked warm and not (yet) claimed: it has the warm marker and no record. */
async function isUnclaimedWarm(workspaceDir: string | undefined): Promise<boolean> {
  if (!workspaceDir) return false;
  const dir = dirname(workspaceDir);
  const exists = (name: string) =>
    access(join(dir, name)).then(
      () => true,
      () => false,
    );
  return (await exists(WARM_MARKER)) && !(await exists(SESSION_RECORD));
}

/**
 * What a local backend left that it should not have: sandbox processes and
 * session directories (warm ones it still holds are not leftovers), once the
 * removal of finished one-shot sandboxes is done.
 */
export async function localLeftovers(backend: LocalBackend | undefined, stateDir: string): Promise<string[]> {
  await backend?.whenIdle();
  const processes = await listSandboxProcesses({ waiting: backend?.driver.waitingWarm() });
  // Under gVisor, containers runsc still knows whose `runsc run` is gone.
  const running = new Set((backend?.driver.containers() ?? []).map((id) => `runsc container ${id} `));
  const containers = backend?.isolation === "gvisor" ? await listRunscContainers(stateDir, backend.settings.runscPath) : [];
  const stray = containers.filter((container) => ![...running].some((prefix) => container.startsWith(prefix)));
  return [...processes, ...stray, ...(await listSessionDirs(stateDir)).map((name) => `session dir ${name}`)];
}

/**
 * Why gVisor sandboxes cannot run here (no runsc, not root, no prepared root
 * filesystem), or undefined when they can: gVisor test files skip with this
 * reason, and fail with it under CI=true.
 */
export async function gvisorUnavailable(settings: { runscPath?: string; rootfs?: string } = {}): Promise<string | undefined> {
  const runscPath = settings.runscPath ?? "runsc";
  const version = await execFileAsync(runscPath, ["--version"]).catch(() => undefined);
  if (!version) return `${runscPath} is not installed (scripts/test.d/60-gvisor.sh installs it)`;
  if (process.getuid?.() !== 0) return "runsc sandboxes need root";
  const rootfs = settings.rootfs ?? defaultRootfs();
  if (!(await readRootfsManifest(rootfs))) return `the sandbox environment is not prepared at ${rootfs}`;
  return undefined;
}
