import { describe, expect, it } from "vitest";
import { startLiveServer } from "./fixture.js";

// A local sandbox that cannot start its Python: what a broken install looks like.
const BROKEN = { LOCAL_PYTHON: "/nonexistent/python3" };

describe("a backend that cannot run code", { timeout: 120_000 }, () => {
  it("stops the server at start-up with the reason", async () => {
    const refused = await startLiveServer({ ...BROKEN, SANDBOX_POOL_MAX: "0" }).then(
      async (server) => {
        await server.stop();
        return "it started";
      },
      (error: Error) => error.message,
    );
    // The local backend's own start-up probe or the trial sandbox: either way the reason, before any request.
    expect(refused).toMatch(/bubblewrap sandbox unavailable|the local backend cannot run code/);
    expect(refused).toContain("/nonexistent/python3");
  });
});

describe("a sandbox runtime that cannot run code", { timeout: 120_000 }, () => {
  it("stops the server at start-up, naming the runtime and the reason", async () => {
    const refused = await startLiveServer({
      SANDBOX_RUNTIMES: "default,gvisor",
      LOCAL_RUNSC_PATH: "/nonexistent/runsc",
      SANDBOX_POOL_MAX: "0",
      SESSION_POOL_MAX: "0",
    }).then(
      async (server) => {
        await server.stop();
        return "it started";
      },
      (error: Error) => error.message,
    );
    expect(refused).toContain("the local backend cannot offer the sandbox runtime gvisor (SANDBOX_RUNTIMES)");
    expect(refused).toContain("/nonexistent/runsc");
  });
});
