import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { killByMarkerArgv } from "./kill-by-marker.js";

describe("killByMarkerArgv", () => {
  it("kills the processes carrying the marker as an argument, and not itself", async () => {
    const marker = `code-interpreter-test-${process.pid}`;
    const marked = spawn("python3", ["-c", "import sys; sys.stdin.read()", marker], { stdio: ["pipe", "ignore", "ignore"] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => marked.once("exit", (_code, signal) => resolve(signal)));
    const [command, ...args] = killByMarkerArgv(marker);
    const killer = spawnSync(command as string, args);
    expect(killer.status).toBe(0);
    expect(await exited).toBe("SIGKILL");
  });
});
