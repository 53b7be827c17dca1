import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { claimWarmInit, WARM_ATTACHED_LINE, warmSessionInitArgv } from "./warm-session-init.js";

// The init runs here under the host's Python: what it does with its stdin does not depend on being pid 1.
function startInit(attachSeconds?: number) {
  const [python, ...args] = warmSessionInitArgv("python3", attachSeconds);
  const child = spawn(python as string, args, { stdio: ["pipe", "pipe", "inherit"] });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { child, exited };
}

describe("the warm session init", () => {
  it("exits when its server's connection ends before a claim", async () => {
    const { child, exited } = startInit();
    child.stdin.end(WARM_ATTACHED_LINE);
    expect(await exited).toBe(0);
  });

  // Its server died between starting it and attaching (Kubernetes attaches once the pod runs): it must not wait for its deadline.
  it("exits when no server attaches in time, although its input stays open", async () => {
    const { child, exited } = startInit(1);
    expect(await exited).toBe(0);
    expect(child.stdin.writableEnded).toBe(false);
  });

  it("once claimed, answers and outlives its server's connection", async () => {
    const { child, exited } = startInit();
    child.stdin.write(WARM_ATTACHED_LINE);
    // More than the production claim timeout: the host's Python may take seconds to start on a loaded machine.
    await claimWarmInit((data) => child.stdin.write(data), child.stdout, 30_000);
    child.stdin.end();
    const outcome = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve("running"), 1500))]);
    expect(outcome).toBe("running");
    child.kill("SIGKILL");
    await exited;
  });

  it("a claim fails when the init has ended", async () => {
    const { child, exited } = startInit();
    child.stdin.end();
    await exited;
    await expect(claimWarmInit(() => {}, child.stdout)).rejects.toThrow(/ended before/);
  });
});
