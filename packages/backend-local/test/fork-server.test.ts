import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLocalBackend, type LocalBackend } from "../src/index.js";
import { listSandboxProcesses, localLeftovers } from "../src/testing/index.js";

const stateDir = await mkdtemp(join(tmpdir(), "ci-local-fork-server-"));
afterAll(() => rm(stateDir, { recursive: true, force: true }));

/** Runs Python code and returns its stdout; fails the test with its output when it does not exit 0. */
async function run(backend: LocalBackend, code: string, timeoutMs = 20_000): Promise<string> {
  const result = await backend.execute({ code, timeoutMs, lastLineInteractive: false, files: [] });
  expect(result.exitCode, `${result.stdout}${result.stderr}`).toBe(0);
  return result.stdout;
}

/** Waits (bounded) until the backend's one-shot pool holds `count` warm sandboxes: the next executions take them. */
async function untilWarm(backend: LocalBackend, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (backend.warmCount < count) {
    if (Date.now() > deadline) throw new Error(`the pool did not hold ${count} warm sandboxes within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Host processes whose command line has `text`. */
async function hostProcessesRunning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((entry) => /^\d+$/.test(entry))) {
    const commandLine = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (commandLine.includes(text)) found.push(`${pid} ${commandLine.replaceAll("\0", " ")}`);
  }
  return found;
}

// What one execution leaves or holds: files in every writable place, a daemon that outlives its code, a port it
// listens on, a secret in its workspace. It prints its own processes' pids (in its pid namespace) when ready.
const HOLDER = `
import os, socket, subprocess, sys, time
for place in ("/tmp", "/workspace", "/dev/shm"):
    open(place + "/left-behind", "w").write("secret")
try:
    open("/dev/left-behind", "w").write("secret")
    print("wrote /dev")
except OSError:
    pass
subprocess.Popen(["sh", "-c", "while true; do touch /tmp/daemon-alive; sleep 0.1; done"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 5555)); listener.listen()
open("/tmp/holder-ready", "w").close()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 4)
print("holder done")
`;

// What another execution can find of it, at the same time or after: each line a fact a test asserts.
const PROBE = `
import ctypes, os, signal, socket
libc = ctypes.CDLL(None, use_errno=True)
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("pids", pids)
try:
    print("runner", open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode())
except OSError as error:
    print("runner unreadable", error)
found = [place for place in ("/tmp/left-behind", "/workspace/left-behind", "/dev/shm/left-behind", "/dev/left-behind",
                             "/tmp/daemon-alive", "/tmp/holder-ready", "/tmp/.fork-server") if os.path.exists(place)]
print("found", found)
try:
    socket.create_connection(("127.0.0.1", 5555), timeout=1).close()
    print("port reached")
except OSError:
    print("port refused")
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print("caps", status["CapEff"].strip(), status["CapPrm"].strip(), status["CapBnd"].strip(), status["CapAmb"].strip())
print("no_new_privs", status["NoNewPrivs"].strip(), "seccomp", status["Seccomp"].strip())
print("new user namespace", "refused" if libc.unshare(0x10000000) != 0 else "made")
print("umount /tmp", "refused" if libc.umount2(b"/tmp", 2) != 0 else "done")
try:
    os.kill(-1, signal.SIGKILL)  # everything it may signal, itself spared: none of another execution's processes
except OSError:
    pass
print("probe done")
`;

for (const forkServer of [false, true]) {
  describe(`local one-shot sandboxes, ${forkServer ? "forked by the fork server" : "each a bubblewrap of its own"}: nothing crosses from one execution to another`, {
    timeout: 120_000,
  }, () => {
    let backend: LocalBackend;

    it("starts", async () => {
      const warnings: string[] = [];
      backend = await createLocalBackend({
        stateDir,
        sandbox: process.env.CI === "true" ? "require" : "auto",
        forkServer,
        pool: { min: 2, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json", "numpy"],
        warn: (message) => warnings.push(message),
      });
      expect(backend.isolation).toBe("bwrap");
      expect(backend.settings.forkServer, warnings.join("; ")).toBe(forkServer);
    });

    it("a running execution's files, daemon, port and processes are out of a concurrent one's sight and reach", async () => {
      await untilWarm(backend, 2);
      const holder = run(backend, `import sys; sys.argv = ["", "6"]\n${HOLDER}`);
      holder.catch(() => {}); // awaited below, once the probe has run
      // The probe starts once the holder is set up (or after a bounded wait): it must see none of it.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const probe = await run(backend, PROBE);
      expect(probe).toContain("found []");
      // Its own runner (pid 1 of its pid namespace) and its code only: not the holder's, not the fork server's.
      expect(probe).toContain("pids [1, 2]");
      // It ran where this describe says (a warm sandbox; one that found none would be a bubblewrap's).
      expect(probe).toMatch(forkServer ? /runner code-interpreter-forked\n/ : /runner \/usr\/bin\/python3\n/);
      expect(probe).toContain("port refused");
      expect(probe).toContain("caps 0000000000000000 0000000000000000 0000000000000000 0000000000000000");
      expect(probe).toContain("no_new_privs 1 seccomp 2");
      expect(probe).toContain("new user namespace refused");
      expect(probe).toContain("umount /tmp refused");
      expect(probe).toContain("probe done");
      // The probe's kill(-1) did not reach the holder, which ends as it meant to.
      const held = await holder;
      expect(held).toContain("holder done");
      // bubblewrap gives each sandbox a /dev tmpfs of its own (writable); the fork server's executions share the
      // mother's, read-only to them.
      expect(held.includes("wrote /dev")).toBe(!forkServer);
    });

    it("draws random numbers of its own: a generator the preload imported is not the same in two executions", async () => {
      const draw = "import random, numpy\nprint(numpy.random.rand(), random.random())";
      await untilWarm(backend, 2);
      const [first, second] = await Promise.all([run(backend, draw), run(backend, draw)]);
      expect(first).not.toBe(second);
    });

    it("an ended execution leaves nothing for the next: no file, no daemon", async () => {
      await untilWarm(backend, 2);
      await run(backend, `import sys; sys.argv = ["", "0"]\n${HOLDER}`);
      const probe = await run(backend, PROBE);
      expect(probe).toContain("found []");
      expect(probe).toContain("port refused");
      await backend.whenIdle();
      expect(await hostProcessesRunning("daemon-alive")).toEqual([]);
      expect(await localLeftovers(backend, stateDir)).toEqual([]);
    });

    it("closes with nothing of its sandboxes left running", async () => {
      await backend.close();
      expect(await listSandboxProcesses({ includeWarm: true })).toEqual([]);
    });
  });
}
