import { randomUUID } from "node:crypto";
import { join } from "node:path";
import {
  createTestBucket,
  findTestObjectStore,
  listKeys,
  type TestObjectStore,
  testS3Client,
  testStoreEnv,
} from "@code-interpreter/files/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { postJson, type ServerProcess, startServerProcess, streamUntilPrinted, waitFor } from "./support/server-process.js";
import { stateDir } from "./support/temp-dirs.js";

/** What the replicas share besides the object store: the sandbox engine, as each test file sets it up. */
export interface ReplicaEngine {
  /** Environment selecting and reaching the backend (EXECUTOR_BACKEND, DOCKER_HOST or KUBECONFIG, image…). */
  env: Record<string, string>;
  /** This run's sandboxes still on the engine, as `<component> <name>` (containers, pods). */
  sandboxes(): Promise<string[]>;
  /** What the engine says about one sandbox, for failure messages. */
  describe?(sandbox: string): Promise<string>;
  close(): Promise<void>;
}

/** How often each replica reaps; the orphan of a killed replica must go within a few passes. */
const REAPER_INTERVAL_SEC = 2;
/** A one-shot sandbox whose runner stopped is an orphan after this grace (the backends' own), then the next pass takes it. */
const ORPHAN_WAIT_MS = (REAPER_INTERVAL_SEC * 3 + 5 + 50) * 1000;

/**
 * Two server processes on one engine and one object store: what a
 * Deployment with two replicas behind a Service is. Nothing either
 * replica knows in memory may matter: files are in the bucket, sessions and
 * their owners and expiry on the sandboxes. Fails under CI=true when the
 * object store is missing; `setUp` fails the same way when the engine is.
 */
export async function describeReplicas(name: string, setUp: () => Promise<ReplicaEngine | string>): Promise<void> {
  const title = `two replicas on the ${name} backend and one object store`;
  const found = await findTestObjectStore();
  if ("reason" in found && process.env.CI === "true") throw new Error(`the two-replica tests need an object store: ${found.reason}`);
  const engine = "store" in found ? await setUp() : found.reason;
  if (typeof engine === "string") {
    if (process.env.CI === "true") throw new Error(`the two-replica tests on ${name} need their engine: ${engine}`);
    describe.skip(`${title} (${engine})`, () => {
      it("needs an object store and the engine", () => {});
    });
    return;
  }
  const objectStore = (found as { store: TestObjectStore }).store;
  describe(title, { timeout: 300_000 }, () => {
    const client = testS3Client(objectStore);
    const prefix = `replicas-${randomUUID()}/`;
    let bucket: Awaited<ReturnType<typeof createTestBucket>>;
    const cleanups: (() => Promise<void>)[] = [];
    beforeAll(async () => {
      bucket = await createTestBucket(objectStore, "replicas");
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    });
    afterAll(async () => {
      client.destroy();
      await bucket?.remove();
      await engine.close();
    }, 120_000);

    const startReplica = async (extra: Record<string, string> = {}): Promise<ServerProcess> => {
      const dir = await stateDir("ci-replica");
      cleanups.push(() => dir.remove());
      const server = await startServerProcess({
        env: {
          ...engine.env,
          ...testStoreEnv(objectStore, bucket.bucket, prefix),
          // Would hold files only if FILE_STORE were ignored: the test checks it stays empty.
          FILE_STORAGE_DIR: join(dir.path, "files"),
          LOCAL_STATE_DIR: join(dir.path, "local"),
          SANDBOX_POOL_MIN: "0",
          SANDBOX_POOL_MAX: "0",
          // No session pool: this test counts sandboxes; faults.*.test.ts cover a killed server's warm ones.
          SESSION_POOL_MAX: "0",
          SANDBOX_PRELOAD: "none",
          REAPER_INTERVAL_SEC: String(REAPER_INTERVAL_SEC),
          MAX_EXEC_TIMEOUT_MS: "120000",
          ...extra,
        },
      });
      cleanups.push(() => server.stop());
      return server;
    };
    const keys = () => listKeys(client, bucket.bucket, prefix);
    const upload = async (url: string, content: string, filename: string) => {
      const form = new FormData();
      form.append("file", new Blob([content]), filename);
      const response = await fetch(`${url}/v1/files`, { method: "POST", body: form });
      expect(response.status).toBe(201);
      return (await response.json()) as { file_id: string; filename: string; size_bytes: number };
    };

    it("serves one set of files and sessions from either replica, survives one's SIGKILL, and leaves nothing", async () => {
      const [a, b] = await Promise.all([startReplica(), startReplica()]);

      // A file uploaded through A is downloaded, listed and used through B.
      const file = await upload(a.url, "id,value\n1,42\n", "data.csv");
      const download = await fetch(`${b.url}/v1/files/${file.file_id}`);
      expect(download.status).toBe(200);
      expect(await download.text()).toBe("id,value\n1,42\n");
      expect(download.headers.get("content-disposition")).toBe('attachment; filename="data.csv"');
      const listed = (await (await fetch(`${b.url}/v1/files`)).json()) as { files: { file_id: string }[] };
      expect(listed.files.map((entry) => entry.file_id)).toEqual([file.file_id]);

      // A session created on A runs bash and Python through B, with the file staged by A.
      const created = await postJson(`${a.url}/v1/sessions`, { ttl_seconds: 600, files: [{ path: "in/data.csv", file_id: file.file_id }] });
      expect(created.status).toBe(201);
      const sessionId = created.body.session_id as string;
      const bash = await postJson(`${b.url}/v1/sessions/${sessionId}/bash`, {
        // bash builtins only: the private engine's tiny image has no coreutils.
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash expansion
        cmd: "mapfile -t lines < in/data.csv; echo ${#lines[@]}; echo made-by-b > out.txt",
      });
      expect(bash.body, JSON.stringify(bash.body)).toMatchObject({ stdout: "2\n", exit_code: 0 });
      const python = await postJson(`${b.url}/v1/sessions/${sessionId}/python`, { code: "open('out.txt').read().strip()" });
      expect(python.status).toBe(200);
      expect(python.body.stdout).toContain("made-by-b");
      expect(((await (await fetch(`${a.url}/v1/sessions/${sessionId}`)).json()) as { session_id: string }).session_id).toBe(sessionId);

      // An execution's outputs saved by B are downloadable through A.
      const executed = await postJson(`${b.url}/v1/execute`, { code: "open('result.txt', 'w').write('from b')" });
      expect(executed.status, JSON.stringify(executed.body)).toBe(200);
      expect(executed.body.files, JSON.stringify(executed.body)).toHaveLength(1);
      const output = executed.body.files.find((entry: { path: string }) => entry.path === "result.txt");
      expect(await (await fetch(`${a.url}/v1/files/${output.file_id}`)).text()).toBe("from b");

      // SIGKILL A in the middle of an execution (its code has printed, so it runs): B keeps serving, and A's
      // orphaned sandbox is reaped. Its runner stops when A's connection drops (or at the latest at the code's
      // own timeout), and a stopped sandbox goes at B's next reaper pass after a few seconds' grace.
      const before = new Set(await engine.sandboxes());
      const started = await streamUntilPrinted(a.url, "import time\nprint('started', flush=True)\ntime.sleep(60)", "started");
      const orphan = (await engine.sandboxes()).find((entry) => entry.startsWith("exec ") && !before.has(entry));
      expect(orphan).toBeDefined();
      a.kill("SIGKILL");
      expect(await a.exited).toBe("SIGKILL");
      // A's client sees its stream cut, never a result.
      expect(started.seen + (await started.rest())).not.toContain("event: result");
      const afterKill = await postJson(`${b.url}/v1/execute`, { code: "print(6 * 7)" });
      expect(afterKill.body).toMatchObject({ stdout: "42\n", exit_code: 0 });
      expect((await postJson(`${b.url}/v1/sessions/${sessionId}/bash`, { cmd: "read -r line < out.txt; echo $line" })).body.stdout).toBe(
        "made-by-b\n",
      );
      await waitFor(
        `B's reaper to remove A's orphan ${orphan as string}`,
        async () => !(await engine.sandboxes()).includes(orphan as string),
        ORPHAN_WAIT_MS,
      ).catch(async (error) => {
        throw new Error(`${error.message}; on the engine: ${await engine.describe?.(orphan as string)}\nB: ${b.output().slice(-2000)}`);
      });

      // Delete the session and the files through B: nothing is left on the engine or in the bucket.
      expect((await fetch(`${b.url}/v1/sessions/${sessionId}`, { method: "DELETE" })).status).toBe(204);
      const remaining = (await (await fetch(`${b.url}/v1/files`)).json()) as { files: { file_id: string }[] };
      expect(remaining.files.map((entry) => entry.file_id).sort()).toEqual([file.file_id, output.file_id].sort());
      for (const entry of remaining.files)
        expect((await fetch(`${b.url}/v1/files/${entry.file_id}`, { method: "DELETE" })).status).toBe(204);
      expect(await keys()).toEqual([]);
      await waitFor("no sandbox of this run on the engine", async () => (await engine.sandboxes()).length === 0, 60_000);
      expect(b.output()).not.toMatch(/reaper failed|could not (delete|remove)/);
    });

    it("answers on B a repeat of an idempotent request made on A, and collects on B a background execution A runs", async () => {
      const [a, b] = await Promise.all([startReplica(), startReplica()]);
      const key = { "idempotency-key": randomUUID(), "content-type": "application/json" };
      const body = JSON.stringify({ code: "import random\nprint(random.random())" });
      const first = await fetch(`${a.url}/v1/execute`, { method: "POST", headers: key, body });
      const firstText = await first.text();
      expect(first.status, firstText).toBe(200);
      const repeat = await fetch(`${b.url}/v1/execute`, { method: "POST", headers: key, body });
      expect(repeat.headers.get("idempotent-replayed")).toBe("true");
      expect(await repeat.text()).toBe(firstText);
      const other = await fetch(`${b.url}/v1/execute`, { method: "POST", headers: key, body: JSON.stringify({ code: "print(2)" }) });
      expect(other.status).toBe(422);

      // Submitted on A by a client that leaves at once; B reports it running, then its answer.
      const client = new AbortController();
      const submitted = await postJson(
        `${a.url}/v1/execute`,
        {
          code: "import time\nprint('started', flush=True)\ntime.sleep(5)\nprint('finished')",
          timeout_ms: 60_000,
          background: true,
        },
        { signal: client.signal },
      );
      client.abort();
      expect(submitted.status).toBe(202);
      const id = submitted.body.execution_id as string;
      let status: { status: string; result?: { stdout: string } } = { status: "running" };
      await waitFor(
        "the background execution to finish, seen from B",
        async () => {
          status = (await (await fetch(`${b.url}/v1/executions/${id}`)).json()) as typeof status;
          return status.status !== "running";
        },
        60_000,
      );
      expect(status).toMatchObject({ status: "completed", result: { stdout: "started\nfinished\n" } });
      expect((await fetch(`${b.url}/v1/executions/${id}`, { method: "DELETE" })).status).toBe(204);
    });

    it("lets the reapers of both replicas remove the same expired session without fighting", async () => {
      const [a, b] = await Promise.all([startReplica(), startReplica()]);
      const created = await postJson(`${a.url}/v1/sessions`, { ttl_seconds: 3 });
      expect(created.status).toBe(201);
      const sessionId = created.body.session_id as string;
      // Both reapers run every REAPER_INTERVAL_SEC against the same sandbox; a 404 or 409 for the one that loses the race is success.
      await waitFor(
        "the expired session to be reaped",
        async () => !(await engine.sandboxes()).some((entry) => entry.includes(sessionId)),
        ORPHAN_WAIT_MS,
      ).catch(async (error) => {
        throw new Error(
          `${error.message}; left: ${await engine.sandboxes()}\nA: ${a.output().slice(-3000)}\nB: ${b.output().slice(-3000)}`,
        );
      });
      for (const replica of [a, b]) {
        expect((await fetch(`${replica.url}/v1/sessions/${sessionId}`)).status).toBe(404);
        expect(replica.output()).not.toMatch(/reaper failed|could not (delete|remove)/);
      }
      // A few more passes on both, with nothing left to fight over.
      await new Promise((resolve) => setTimeout(resolve, REAPER_INTERVAL_SEC * 2000));
      for (const replica of [a, b]) expect(replica.output()).not.toMatch(/"reaper failed"/);
    });
  });
}
