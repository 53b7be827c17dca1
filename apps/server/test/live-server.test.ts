import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, type LiveServer, runningSandboxes, startLiveServer } from "./fixture.js";

let server: LiveServer;
beforeAll(async () => {
  // No warm pool: these tests count the sandboxes of the requests themselves.
  server = await startLiveServer({ SANDBOX_POOL_MAX: "0" });
});
afterAll(() => server?.stop());

const waitForNoSandboxes = async () => {
  for (let i = 0; i < 100 && (await runningSandboxes()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  return runningSandboxes();
};

describe("a running server", () => {
  it("answers over real HTTP", async () => {
    const response = await fetch(`${server.url}/v1/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "x = 6*7\nx" }),
    });
    expect((await json(response)).stdout).toBe("42\n");
  });

  it("cancels an execution and removes its sandbox when the client disconnects", async () => {
    const controller = new AbortController();
    const request = fetch(`${server.url}/v1/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "import time\ntime.sleep(20)", timeout_ms: 20_000 }),
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await runningSandboxes()).length).toBe(1);
    controller.abort();
    await expect(request).rejects.toThrow();
    expect(await waitForNoSandboxes()).toEqual([]);
  });

  it("cancels a streamed execution when the client goes away mid-stream", async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/execute/stream`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "import time\nprint('go', flush=True)\ntime.sleep(20)", timeout_ms: 20_000 }),
      signal: controller.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain("event: output");
    controller.abort();
    expect(await waitForNoSandboxes()).toEqual([]);
  });

  it("answers /health quickly while executions run", async () => {
    const busy = fetch(`${server.url}/v1/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "while True: pass", timeout_ms: 1500 }),
    });
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect((await json(await busy)).timed_out).toBe(true);
  });
});
