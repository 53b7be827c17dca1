import { readdir, readFile } from "node:fs/promises";

/**
 * Sandboxes (bubblewrap, or the runner itself without it) that a process
 * started and that are still running (zombies are not), as `pid name`: for tests that check
 * nothing is left behind. Warm sandboxes waiting in the pool are left out
 * unless `includeWarm`: they are not leftovers while the backend runs.
 */
export async function listSandboxProcesses(options: { parentPid?: number; includeWarm?: boolean } = {}): Promise<string[]> {
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
      const hostname = argv.indexOf("--hostname");
      found.push(`${pid} ${hostname >= 0 ? argv[hostname + 1] : program}`);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}
