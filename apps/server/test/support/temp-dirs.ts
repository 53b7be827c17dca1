import { readFile } from "node:fs/promises";

export { stateDir } from "@code-interpreter/test-support";

/** Whether a process is still alive (zombies count as gone). */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
