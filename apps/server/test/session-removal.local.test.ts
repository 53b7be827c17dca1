import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { postJson, type ServerProcess, startServerProcess } from "./support/server-process.js";
import { stateDir } from "./support/temp-dirs.js";

// Sessions whose code shaped its workspace to be hard to delete, deleted over real HTTP from a
// server running as its own process (so the test's own event loop does not stand in for the server's).
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function start(): Promise<{ server: ServerProcess; dir: string }> {
  const dir = await stateDir("ci-session-removal");
  cleanups.push(() => dir.remove());
  const server = await startServerProcess({
    env: {
      EXECUTOR_BACKEND: "local",
      LOCAL_SANDBOX: process.env.CI === "true" ? "require" : "auto",
      LOCAL_STATE_DIR: join(dir.path, "local"),
      FILE_STORAGE_DIR: join(dir.path, "files"),
      SANDBOX_POOL_MAX: "0",
      SESSION_POOL_MAX: "0",
      REAPER_INTERVAL_SEC: "1",
      // Making 200,000 files takes the better part of a minute on a busy machine.
      MAX_EXEC_TIMEOUT_MS: "300000",
    },
  });
  cleanups.push(() => server.stop());
  return { server, dir: dir.path };
}

async function sessionWith(server: ServerProcess, python: string): Promise<string> {
  const created = await postJson(`${server.url}/v1/sessions`, { ttl_seconds: 600 });
  expect(created.status).toBe(201);
  const id = created.body.session_id as string;
  const made = await postJson(`${server.url}/v1/sessions/${id}/bash`, { cmd: `python3 -c '${python}'`, timeout_ms: 240_000 });
  expect(made.body, JSON.stringify(made.body)).toMatchObject({ exit_code: 0, timed_out: false });
  return id;
}

/** Session directories and trash (what deleted sessions leave until their removal ends) on disk. */
const onDisk = async (dir: string) => {
  const list = (name: string) => readdir(join(dir, "local", name)).catch(() => [] as string[]);
  return [...(await list("sessions")), ...(await list("trash"))];
};

describe("deleting a local session", { timeout: 300_000 }, () => {
  it("removes a 2,000-deep directory tree (deeper than PATH_MAX): 204, no longer listed, gone from disk", async () => {
    const { server, dir } = await start();
    const id = await sessionWith(
      server,
      'import os\nfor _ in range(2000):\n    os.mkdir("deep-directory")\n    os.chdir("deep-directory")\nopen("leaf", "w").write("x")',
    );
    const deleted = await fetch(`${server.url}/v1/sessions/${id}`, { method: "DELETE" });
    expect(deleted.status).toBe(204);
    expect((await fetch(`${server.url}/v1/sessions/${id}`)).status).toBe(404);
    const listed = (await (await fetch(`${server.url}/v1/sessions`)).json()) as { sessions: { session_id: string }[] };
    expect(listed.sessions.map((session) => session.session_id)).not.toContain(id);
    expect(await onDisk(dir)).toEqual([]);
    expect(server.output()).not.toContain("ENAMETOOLONG");
  });

  it("removes a directory the code locked (mode 000, with files inside)", async () => {
    const { server, dir } = await start();
    const id = await sessionWith(
      server,
      'import os\nos.makedirs("locked/inner")\nopen("locked/inner/f", "w").write("x")\nos.chmod("locked/inner", 0)\nos.chmod("locked", 0)',
    );
    expect((await fetch(`${server.url}/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(204);
    expect(await onDisk(dir)).toEqual([]);
  });

  it("keeps answering other requests while it removes 200,000 files", async () => {
    const { server, dir } = await start();
    const id = await sessionWith(
      server,
      'import os\nfor d in range(200):\n    os.mkdir(str(d))\n    for f in range(1000):\n        os.close(os.open("%d/%d" % (d, f), os.O_CREAT | os.O_WRONLY))',
    );
    let deleting = true;
    const deletion = fetch(`${server.url}/v1/sessions/${id}`, { method: "DELETE" }).finally(() => {
      deleting = false;
    });
    // /health, asked again and again while the removal runs: each answer comes while the delete
    // is still in flight (the event loop is free), and none waits anywhere near the 2.4 s a
    // removal on the event loop cost.
    const latencies: number[] = [];
    let servedDuringDelete = 0;
    while (deleting) {
      const started = Date.now();
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(200);
      latencies.push(Date.now() - started);
      if (deleting) servedDuringDelete++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await deletion).status).toBe(204);
    expect(servedDuringDelete, `health latencies ${latencies.join(",")}`).toBeGreaterThan(0);
    expect(Math.max(...latencies), `health latencies ${latencies.join(",")}`).toBeLessThan(1500);
    expect(await onDisk(dir)).toEqual([]);
  });
});
