import { access, readdir } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { listSandboxProcesses } from "@code-interpreter/backend-local/testing";
import { serverEnv } from "@code-interpreter/test-support";
import { afterEach, describe, expect, it } from "vitest";
import { postJson, type ServerProcess, startServerProcess, waitFor } from "./support/server-process.js";
import { isRunning, stateDir } from "./support/temp-dirs.js";

// The server runs as a real process on the local backend; these tests kill it the ways production does.
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function start(dir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess({
    env: serverEnv(dir, {
      SANDBOX_PRELOAD: "none",
      REAPER_INTERVAL_SEC: "1",
      // These tests count every sandbox as a leftover: no session pool unless a test asks for it.
      SESSION_POOL_MAX: "0",
      ...env,
    }),
  });
  cleanups.push(() => server.stop());
  return server;
}

async function tempDir(): Promise<string> {
  const dir = await stateDir("ci-faults");
  cleanups.unshift(() => dir.remove());
  return dir.path;
}

/** Pids of the sandboxes a server process started (warm ones too). */
const sandboxPids = async (server: ServerProcess) =>
  (await listSandboxProcesses({ parentPid: server.pid, includeWarm: true })).map((entry) => Number(entry.split(" ")[0]));

const allGone = async (pids: number[]) => (await Promise.all(pids.map(isRunning))).every((running) => !running);

describe("the server process on the local backend", { timeout: 240_000 }, () => {
  it("on SIGTERM finishes the execution in flight, removes its sandboxes and exits 0", async () => {
    const server = await start(await tempDir(), { SANDBOX_POOL_MAX: "0" });
    const inFlight = postJson(`${server.url}/v1/execute`, {
      code: "import time\ntime.sleep(2)\nprint('finished')",
      timeout_ms: 30_000,
    });
    const pids = await waitFor("the execution's sandbox", async () => {
      const found = await sandboxPids(server);
      return found.length > 0 ? found : undefined;
    });
    server.kill("SIGTERM");
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ stdout: "finished\n", exit_code: 0, timed_out: false });
    expect(await server.exited).toBe(0);
    expect(await allGone(pids)).toBe(true);
  });

  it("after SIGKILL during a one-shot execution, nothing the server started keeps running", async () => {
    const server = await start(await tempDir(), { SANDBOX_POOL_MIN: "1" });
    const inFlight = postJson(`${server.url}/v1/execute`, { code: "import time\ntime.sleep(50)", timeout_ms: 60_000 }).catch(
      (error: Error) => error,
    );
    const pids = await waitFor("the execution's sandbox and a warm one", async () => {
      const found = await sandboxPids(server);
      return found.length >= 2 ? found : undefined;
    });
    server.kill("SIGKILL");
    expect(await server.exited).toBe("SIGKILL");
    expect(await inFlight).toBeInstanceOf(Error);
    // The code would sleep 50 s more; its sandbox (and the warm one) end with their connection.
    await waitFor("the dead server's sandboxes to end", () => allGone(pids), 20_000, 200);
  });

  it("after SIGKILL, a restarted server still serves live sessions and stored files, and reaps what expired", async () => {
    const dir = await tempDir();
    const first = await start(dir);
    const form = new FormData();
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
    form.append("file", new Blob([bytes]), "kept.bin");
    const uploaded = await fetch(`${first.url}/v1/files`, { method: "POST", body: form });
    expect(uploaded.status).toBe(201);
    const { file_id } = (await uploaded.json()) as { file_id: string };

    const live = (await postJson(`${first.url}/v1/sessions`, { ttl_seconds: 600 })).body.session_id as string;
    expect((await postJson(`${first.url}/v1/sessions/${live}/bash`, { cmd: "echo before-crash > state.txt" })).status).toBe(200);
    const expiring = (await postJson(`${first.url}/v1/sessions`, { ttl_seconds: 3 })).body.session_id as string;

    // A one-shot execution and a session command are running when the server dies.
    const execution = postJson(`${first.url}/v1/execute`, { code: "import time\ntime.sleep(60)", timeout_ms: 60_000 }).catch(
      (error: Error) => error,
    );
    const command = postJson(`${first.url}/v1/sessions/${live}/bash`, { cmd: "sleep 60", timeout_ms: 60_000 }).catch(
      (error: Error) => error,
    );
    const pids = await waitFor("both sandboxes running", async () => {
      const found = await listSandboxProcesses({ parentPid: first.pid });
      return found.length >= 2 ? sandboxPids(first) : undefined;
    });
    first.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    expect(await execution).toBeInstanceOf(Error);
    expect(await command).toBeInstanceOf(Error);
    // bubblewrap dies with its parent: no sandbox of the dead server keeps running.
    await waitFor("the dead server's sandboxes to end", () => allGone(pids), 30_000);

    const second = await start(dir);
    const state = await postJson(`${second.url}/v1/sessions/${live}/bash`, { cmd: "cat state.txt" });
    expect(state.body).toMatchObject({ stdout: "before-crash\n", exit_code: 0 });
    const python = await postJson(`${second.url}/v1/sessions/${live}/python`, { code: "open('state.txt').read().strip()" });
    expect(python.body.stdout).toBe("'before-crash'\n");
    const download = await fetch(`${second.url}/v1/files/${file_id}`);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);

    // The expired session goes with the reaper, workspace and all.
    await waitFor(
      "the expired session to be reaped",
      async () => (await fetch(`${second.url}/v1/sessions/${expiring}`)).status === 404,
      30_000,
    );
    await waitFor("its directory to be removed", async () => {
      const { readdir } = await import("node:fs/promises");
      return !(await readdir(join(dir, "local", "sessions"))).includes(expiring);
    });

    expect((await fetch(`${second.url}/v1/sessions/${live}`, { method: "DELETE" })).status).toBe(204);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });

  it("after SIGKILL with both pools on, the dead server's warm sandboxes end within the reaper interval + 10 s, and a restarted server removes its warm session directories as fast; its sessions stay", async () => {
    const dir = await tempDir();
    const sessionsDir = join(dir, "local", "sessions");
    const first = await start(dir, { SANDBOX_POOL_MIN: "1", SESSION_POOL_MIN: "1", SESSION_POOL_MAX: "1" });
    const session = (await postJson(`${first.url}/v1/sessions`, { ttl_seconds: 600 })).body.session_id as string;
    expect((await postJson(`${first.url}/v1/sessions/${session}/bash`, { cmd: "echo kept > state.txt" })).status).toBe(200);
    const warmDirs = async () => {
      const names = await readdir(sessionsDir).catch(() => [] as string[]);
      const marked = await Promise.all(
        names.map((name) =>
          access(join(sessionsDir, name, "warm.json")).then(
            () => name,
            () => undefined,
          ),
        ),
      );
      return marked.filter((name) => name !== undefined);
    };
    // The warm session's kernel and command runner, the warm one-shot sandbox, and the session's own.
    const pids = await waitFor("a warm session and a warm one-shot sandbox", async () => {
      const warm = await warmDirs();
      const found = await listSandboxProcesses({ parentPid: first.pid, includeWarm: true });
      const ofWarmSession = found.filter((entry) => warm.some((name) => entry.endsWith(` ${name}`)));
      const oneShot = found.filter((entry) => / code-exec-/.test(entry));
      return ofWarmSession.length >= 2 && oneShot.length >= 1 ? sandboxPids(first) : undefined;
    });
    const dead = await warmDirs();
    first.kill("SIGKILL");
    const killedAt = Date.now();
    expect(await first.exited).toBe("SIGKILL");
    await waitFor("the dead server's sandboxes to end", () => allGone(pids), 11_000, 200);
    const endedAfterMs = Date.now() - killedAt;

    const second = await start(dir, { SANDBOX_POOL_MAX: "0" });
    const startedAt = Date.now();
    await waitFor(
      "the dead server's warm session directories to be removed",
      async () => {
        const left = await warmDirs();
        return dead.every((name) => !left.includes(name));
      },
      11_000,
      200,
    );
    const removedAfterMs = Date.now() - startedAt;
    console.info(
      `local: sandboxes ended ${endedAfterMs} ms after SIGKILL; warm directories removed ${removedAfterMs} ms after the restart`,
    );
    const state = await postJson(`${second.url}/v1/sessions/${session}/bash`, { cmd: "cat state.txt" });
    expect(state.body).toMatchObject({ stdout: "kept\n", exit_code: 0 });
    expect((await fetch(`${second.url}/v1/sessions/${session}`, { method: "DELETE" })).status).toBe(204);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });

  it("cuts off a client that sends its headers and then trickles the body, with a JSON 408", async () => {
    const server = await start(await tempDir(), { SANDBOX_POOL_MAX: "0", REQUEST_TIMEOUT_MS: "2000" });
    const { hostname } = new URL(server.url);
    // One byte a second: far slower than REQUEST_TIMEOUT_MS allows for 1000 bytes.
    const received = await trickleUntilClosed(
      server.url,
      `POST /v1/execute HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"code":"`,
      "x",
      1000,
    );
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(received.slice(received.indexOf("\r\n\r\n") + 4))).toEqual({ detail: expect.stringContaining("REQUEST_TIMEOUT_MS") });
    expect(await listSandboxProcesses({ parentPid: server.pid, includeWarm: true })).toEqual([]);
  });

  it("cuts off a client that never finishes its headers", async () => {
    const server = await start(await tempDir(), { SANDBOX_POOL_MAX: "0", REQUEST_TIMEOUT_MS: "2000" });
    const received = await trickleUntilClosed(server.url, "GET /health HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n", 500);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    // The server still answers everyone else.
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

/**
 * Opens a raw connection, sends `start`, then `more` every `intervalMs` until
 * the server closes the connection; resolves with everything it answered.
 */
async function trickleUntilClosed(url: string, start: string, more: string, intervalMs: number): Promise<string> {
  const { port, hostname } = new URL(url);
  const socket = connect(Number(port), hostname);
  let received = "";
  socket.on("data", (data) => {
    received += String(data);
  });
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.write(start);
  const trickle = setInterval(() => socket.writable && socket.write(more), intervalMs);
  try {
    await closed;
  } finally {
    clearInterval(trickle);
  }
  return received;
}
