import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { FRESH_KERNEL_NOTICE, SessionSnapshots, SnapshotRefusedError, type SnapshotStorage } from "@code-interpreter/core/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { gvisorUnavailable } from "../src/testing/index.js";

// Pause, resume and fork WITH the Python state (issue 23): gVisor sessions are checkpointed (`runsc checkpoint`)
// and restored (`runsc restore`). Snapshots go to a directory of files, as the directory file store keeps its records.
const unavailable = await gvisorUnavailable();
const describeIfGvisor = unavailable && process.env.CI !== "true" ? describe.skip : describe;

/** A record area in a directory: what the file store's `records` are, without the files package (not a dependency here). */
function directoryStorage(root: string): SnapshotStorage {
  return {
    async put(name, value) {
      await mkdir(dirname(join(root, name)), { recursive: true });
      await writeFile(join(root, name), value);
      return true;
    },
    get: (name) => readFile(join(root, name)).catch(() => undefined),
    delete: (name) => rm(join(root, name), { force: true }),
    async list(prefix) {
      const names = await readdir(root, { recursive: true }).catch(() => [] as string[]);
      return names.filter((name) => name.startsWith(prefix));
    },
  };
}

describeIfGvisor(
  `gVisor sessions paused, resumed and forked with their memory${unavailable ? ` [${unavailable}]` : ""}`,
  { timeout: 120_000 },
  () => {
    let stateDir: string;
    let storeDir: string;
    let backend: LocalBackend;
    const python = (sessionId: string, code: string) => backend.runInSession({ sessionId, language: "python", code, timeoutMs: 30_000 });
    const bash = (sessionId: string, code: string) => backend.runInSession({ sessionId, language: "bash", code, timeoutMs: 30_000 });

    beforeAll(async () => {
      stateDir = await mkdtemp(join(tmpdir(), "ci-local-gvisor-memory-"));
      storeDir = join(stateDir, "store");
      const snapshots = new SessionSnapshots({
        storage: directoryStorage(storeDir),
        key: "a-test-snapshot-key-0123456789",
        ttlSeconds: 600,
        maxBytes: 512 * 1024 * 1024,
      });
      const sandbox = process.env.CI === "true" ? "require" : "auto";
      const noPool = { min: 0, max: 0, idleTimeoutMs: 60_000 };
      backend = await createLocalBackend({ stateDir, sandbox, sandboxRuntime: "gvisor", pool: noPool, sessionPool: noPool, snapshots });
    }, 60_000);
    afterAll(async () => {
      await backend?.close();
      await rm(stateDir, { recursive: true, force: true });
    }, 60_000);

    it("keeps x = 41, a workspace file and /tmp across a pause and resume; a fork goes on from the same state, independently", async () => {
      const session = await backend.createSession({ ttlSeconds: 600, files: [] });
      await python(session.id, "x = 41\nopen('notes.txt', 'w').write('kept')\nopen('/tmp/scratch', 'w').write('tmp kept')");

      const paused = await backend.pauseSession(session.id);
      expect(paused).toMatchObject({ state: "paused", memory: true, snapshot: { memory: true } });
      expect(backend.driver.containers()).toEqual([]);

      await backend.resumeSession(session.id, { ttlSeconds: 600 });
      const resumed = await python(session.id, "print(x + 1, open('notes.txt').read(), open('/tmp/scratch').read())");
      expect(resumed.stderr).not.toContain(FRESH_KERNEL_NOTICE);
      expect(resumed.stdout).toBe("42 kept tmp kept\n");
      // The sandbox's syscall filter came back with its processes: still in seccomp filter mode.
      expect((await python(session.id, "print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])")).stdout).toBe("2\n");
      expect((await bash(session.id, "cat notes.txt")).stdout).toBe("kept");

      // A fork of the running session: both copies go on from x = 41, each on its own.
      const fork = await backend.forkSession(session.id, { ttlSeconds: 600 });
      expect(fork.id).not.toBe(session.id);
      const [inFork, inSource] = await Promise.all([
        python(fork.id, "x += 100\nopen('notes.txt', 'w').write('forked')\nprint(x)"),
        python(session.id, "x -= 1\nprint(x)"),
      ]);
      expect(inFork.stdout).toBe("141\n");
      expect(inFork.stderr).not.toContain(FRESH_KERNEL_NOTICE);
      expect(inSource.stdout).toBe("40\n");
      expect((await bash(session.id, "cat notes.txt")).stdout).toBe("kept");
      expect((await bash(fork.id, "cat notes.txt")).stdout).toBe("forked");
      await Promise.all([backend.deleteSession(session.id), backend.deleteSession(fork.id)]);
      expect(backend.driver.containers()).toEqual([]);
    });

    it("refuses a memory image altered in the store, and restores nothing", async () => {
      const session = await backend.createSession({ ttlSeconds: 600, files: [] });
      await python(session.id, "x = 41");
      await backend.pauseSession(session.id);
      const memory = join(storeDir, "snapshots", session.id, "memory.bin");
      const bytes = await readFile(memory);
      bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
      await writeFile(memory, bytes);
      await expect(backend.resumeSession(session.id, { ttlSeconds: 600 })).rejects.toBeInstanceOf(SnapshotRefusedError);
      await expect(python(session.id, "x")).rejects.toBeInstanceOf(SnapshotRefusedError);
      expect(backend.driver.containers()).toEqual([]);
      await backend.deleteSession(session.id);
    });
  },
);
