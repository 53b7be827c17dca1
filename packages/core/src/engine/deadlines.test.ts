import { describe, expect, it } from "vitest";
import { withinMs } from "./deadlines.js";

describe("withinMs", () => {
  it("answers what the promise settles with when it comes in time", async () => {
    expect(await withinMs(Promise.resolve("done"), 1000, "late")).toBe("done");
  });

  it("answers the fallback once the time has passed without it", async () => {
    expect(await withinMs(new Promise<string>(() => {}), 10, "late")).toBe("late");
  });
});
