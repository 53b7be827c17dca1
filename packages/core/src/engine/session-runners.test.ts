import { describe, expect, it } from "vitest";
import { SessionRunners } from "./session-runners.js";

/** A runner as SessionRunners sees it: alive until stopped, its stop finishing when `finishStop` is called. */
function runner(name: string, events: string[]) {
  let finishStop = () => {};
  let stopping: Promise<void> | undefined;
  const self = {
    alive: true,
    dispose: () => {
      self.alive = false;
    },
    stop: () => {
      self.alive = false;
      stopping ??= new Promise<void>((resolve) => {
        finishStop = () => {
          events.push(`${name} stopped`);
          resolve();
        };
      });
    },
    whenStopped: () => stopping ?? Promise.resolve(),
    finishStop: () => finishStop(),
  };
  return self;
}

describe("SessionRunners", () => {
  it("starts a session's next runner only once the last one's stop is done", async () => {
    const events: string[] = [];
    const kernels = new SessionRunners<ReturnType<typeof runner>>();
    const first = await kernels.get("s", async () => runner("first", events));
    expect(await kernels.get("s", async () => runner("unused", events))).toBe(first);
    // An aborted request stops its runner without waiting (a kill by marker, still running).
    first.stop();
    const next = kernels.get("s", async () => {
      events.push("second started");
      return runner("second", events);
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual([]);
    first.finishStop();
    expect((await next).alive).toBe(true);
    expect(events).toEqual(["first stopped", "second started"]);
  });

  it("starts one at once when the last one ended by itself", async () => {
    const events: string[] = [];
    const kernels = new SessionRunners<ReturnType<typeof runner>>();
    const first = await kernels.get("s", async () => runner("first", events));
    first.alive = false;
    const second = await kernels.get("s", async () => runner("second", events));
    expect(second).not.toBe(first);
  });
});
