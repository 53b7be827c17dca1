// Memory of an idle sandbox, measured the same way for every runtime: the
// proportional set size (PSS) of the host processes that make it up, so pages
// shared with other processes (the Python binary, the root filesystem's
// libraries) count once across them; and for Docker also the container's
// memory cgroup (what `docker stats` shows, and its peak), which under gVisor
// holds the runsc sandbox (Sentry) and gofer processes too.
import { readdir, readFile } from "node:fs/promises";

/** One reading of a sandbox's memory, in MB. */
export interface MemoryReading {
  /** Sum of the processes' PSS. */
  pssMb: number;
  /** Sum of the processes' RSS (shared pages counted in each). */
  rssMb: number;
  /** Processes counted. */
  processes: number;
  /** Docker: the cgroup's usage less inactive file pages, as `docker stats` shows it (cgroup v1). */
  cgroupMb?: number;
  /** Docker: the cgroup's peak usage since the container started (page cache included). */
  cgroupPeakMb?: number;
}

const kb = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);

/** PSS and RSS of these processes (ones already gone count 0). */
export async function processMemory(pids: readonly number[]): Promise<MemoryReading> {
  let pss = 0;
  let rss = 0;
  let processes = 0;
  for (const pid of pids) {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
    if (!rollup) continue;
    processes++;
    pss += kb(rollup, "Pss");
    rss += kb(rollup, "Rss");
  }
  return { pssMb: pss / 1024, rssMb: rss / 1024, processes };
}

/** Every process's parent, from /proc. */
async function parents(): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // The command name in parentheses may hold spaces: the parent pid is the 2nd field after its ")".
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (parent) map.set(Number(entry), parent);
  }
  return map;
}

/** The processes below `root` (not `root` itself). */
export async function descendants(root: number): Promise<number[]> {
  const map = await parents();
  const found: number[] = [];
  const below = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of map) {
      if (below.has(parent) && !below.has(pid)) {
        below.add(pid);
        found.push(pid);
        grew = true;
      }
    }
  }
  return found;
}

/** Processes whose command line holds `text` (e.g. a runsc container id), this one's excluded. */
export async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(text)) found.push(Number(entry));
  }
  return found;
}

/** The directory of a Docker container's memory cgroup (cgroup v1, cgroupfs driver), if there is one. */
async function dockerMemoryCgroup(containerId: string): Promise<string | undefined> {
  for (const dir of [`/sys/fs/cgroup/memory/docker/${containerId}`, `/sys/fs/cgroup/memory/system.slice/docker-${containerId}.scope`]) {
    if (await readFile(`${dir}/memory.usage_in_bytes`, "utf8").catch(() => undefined)) return dir;
  }
  return undefined;
}

/**
 * A Docker container's memory: its cgroup's (v1) usage as `docker stats` shows it and its
 * peak, and the PSS of the processes in the cgroup (under runsc: the Sentry, the gofer and
 * their ptrace stubs). The containerd shim is left out: it is the same for both runtimes.
 */
export async function dockerContainerMemory(containerId: string): Promise<MemoryReading> {
  const dir = await dockerMemoryCgroup(containerId);
  if (!dir) throw new Error(`no memory cgroup (v1) found for container ${containerId}`);
  const read = async (file: string) => (await readFile(`${dir}/${file}`, "utf8")).trim();
  const pids = (await read("cgroup.procs")).split("\n").filter(Boolean).map(Number);
  const usage = Number(await read("memory.usage_in_bytes"));
  const peak = Number(await read("memory.max_usage_in_bytes"));
  const inactiveFile = Number(/^total_inactive_file (\d+)/m.exec(await read("memory.stat"))?.[1] ?? 0);
  const MB = 1024 * 1024;
  return { ...(await processMemory(pids)), cgroupMb: (usage - inactiveFile) / MB, cgroupPeakMb: peak / MB };
}

/** The largest of each figure over several readings. */
export function peakOf(readings: readonly MemoryReading[]): MemoryReading {
  const max = (pick: (r: MemoryReading) => number | undefined) => {
    const values = readings.map(pick).filter((v): v is number => v !== undefined);
    return values.length > 0 ? Math.max(...values) : undefined;
  };
  const cgroupMb = max((r) => r.cgroupMb);
  const cgroupPeakMb = max((r) => r.cgroupPeakMb);
  return {
    pssMb: max((r) => r.pssMb) ?? Number.NaN,
    rssMb: max((r) => r.rssMb) ?? Number.NaN,
    processes: max((r) => r.processes) ?? 0,
    ...(cgroupMb === undefined ? {} : { cgroupMb }),
    ...(cgroupPeakMb === undefined ? {} : { cgroupPeakMb }),
  };
}

/**
 * Samples `read` every `everyMs` until two readings in a row are within 1 MB of
 * PSS (the sandbox has settled: its preload is done), at most `settleMs`; then
 * `samples` more, returning the peak of those.
 */
export async function idlePeak(read: () => Promise<MemoryReading>, options = { everyMs: 1000, settleMs: 60_000, samples: 5 }) {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const deadline = performance.now() + options.settleMs;
  let last = await read();
  while (performance.now() < deadline) {
    await sleep(options.everyMs);
    const next = await read();
    const settled = Math.abs(next.pssMb - last.pssMb) < 1 && next.processes > 0;
    last = next;
    if (settled) break;
  }
  const readings = [last];
  for (let i = 1; i < options.samples; i++) {
    await sleep(options.everyMs);
    readings.push(await read());
  }
  return peakOf(readings);
}
