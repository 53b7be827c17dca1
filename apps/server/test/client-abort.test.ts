import { connect } from "node:net";
import { serverEnv } from "@code-interpreter/test-support";
import { afterEach, describe, expect, it } from "vitest";
import { postJson, type ServerProcess, startServerProcess, waitFor } from "./support/server-process.js";
import { stateDir } from "./support/temp-dirs.js";

// Clients that hang up mid-request, against the server as a real process (its log is what is checked).
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function start(): Promise<ServerProcess> {
  const dir = await stateDir("ci-client-abort");
  cleanups.push(() => dir.remove());
  const server = await startServerProcess({
    env: serverEnv(dir.path, { SANDBOX_POOL_MAX: "0" }),
  });
  cleanups.push(() => server.stop());
  return server;
}

/** The server's JSON log lines. */
const logLines = (server: ServerProcess) =>
  server
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe("a client that hangs up", { timeout: 120_000 }, () => {
  it("in the middle of an upload is logged as 499, not as a server error", async () => {
    const server = await start();
    const { hostname, port } = new URL(server.url);
    const boundary = "client-abort-boundary";
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      [
        "POST /v1/files HTTP/1.1",
        `Host: ${hostname}`,
        `Content-Type: multipart/form-data; boundary=${boundary}`,
        "Content-Length: 4000000",
        "",
        `--${boundary}`,
        'Content-Disposition: form-data; name="file"; filename="half.bin"',
        "Content-Type: application/octet-stream",
        "",
        "",
      ].join("\r\n"),
    );
    // Half of what it announced, then gone.
    await new Promise<void>((resolve) => socket.write(Buffer.alloc(2_000_000, 7), () => resolve()));
    socket.destroy();

    const line = await waitFor("the upload's request log line", () =>
      logLines(server).find((entry) => entry.msg === "request" && entry.route === "/v1/files"),
    );
    expect(line).toMatchObject({ method: "POST", status: 499 });
    expect(line.level).toBeLessThan(40); // info, not a warning
    expect(logLines(server).filter((entry) => (entry.level as number) >= 50)).toEqual([]);
    // The server carries on, and kept none of it.
    const listed = (await (await fetch(`${server.url}/v1/files`)).json()) as { files: unknown[] };
    expect(listed.files).toEqual([]);
  });

  it("during an execution counts it as aborted, not failed, in the metrics", async () => {
    const server = await start();
    const controller = new AbortController();
    const request = postJson(
      `${server.url}/v1/execute`,
      { code: "import time\nprint('started', flush=True)\ntime.sleep(30)", timeout_ms: 40_000 },
      { signal: controller.signal },
    ).catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    controller.abort();
    expect(await request).toBeInstanceOf(Error);
    const executions = await waitFor("the execution to be counted", async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return (
        text
          .split("\n")
          .filter((entry) => entry.startsWith("code_interpreter_executions_total{"))
          .join("\n") || undefined
      );
    });
    expect(executions).toContain('outcome="aborted"');
    expect(executions).not.toContain('outcome="failed"');
    const line = await waitFor(
      "the execution's request log line",
      () => logLines(server).find((entry) => entry.msg === "request" && entry.route === "/v1/execute"),
      10_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${server.output()}`);
    });
    expect(line).toMatchObject({ status: 499 });
  });
});
