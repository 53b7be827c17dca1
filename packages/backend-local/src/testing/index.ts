import { access, readdir, readFile, readlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { WORKSPACE_DIR } from "@code-interpreter/core/engine";
import type { LocalBackend } from "../local-backend.js";
import { SESSION_RECORD, WARM_MARKER } from "../session-records.js";

/**
 * Sandboxes (bubblewrap, or the runner itself without it) that a process
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
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const [state, parent] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // A zombie has ended (a sandbox killed after its answer, not yet collected by its parent).
      if (Number(parent) !== parentPid || state === "Z") continue;
      const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      const program = argv[0]?.split("/").at(-1);
      if (program !== "bwrap" && !program?.startsWith("python")) continue;
      if (!options.includeWarm && argv.includes("--preload")) continue;
      if (!options.includeWarm && (await isUnclaimedWarm(await workspaceOf(pid, argv)))) continue;
      const hostname = argv.indexOf("--hostname");
      const name = hostname >= 0 ? argv[hostname + 1] : undefined;
      if (!options.includeWarm && name !== undefined && options.waiting?.includes(name)) continue;
      found.push(`${pid} ${name ?? program}`);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
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
  return argv[0]?.split("/").at(-1) === "bwrap" ? undefined : readlink(`/proc/${pid}/cwd`).catch(() => undefined);
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
  return [
    ...(await listSandboxProcesses({ waiting: backend?.driver.waitingWarm() })),
    ...(await listSessionDirs(stateDir)).map((name) => `session dir ${name}`),
  ];
}
