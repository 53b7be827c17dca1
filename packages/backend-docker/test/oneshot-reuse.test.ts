import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, dockerAvailable, fileLabels, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
afterAll(() => removeLabelled(labels));

const MARKER = "code-interpreter-reuse-stray";

/** Leaves a trace everywhere one execution could reach the next in the same container, then hangs past its timeout. */
const leaveTraces = (tag: string) => `
import ctypes, os, socket, subprocess, time
tag = ${JSON.stringify(tag)}
for path in ["/workspace/trace-" + tag, "/tmp/trace-" + tag, "/dev/shm/trace-" + tag]:
    open(path, "w").write(tag)
os.makedirs("/workspace/locked/deeper")
open("/workspace/locked/deeper/trace", "w").write(tag)
os.chmod("/workspace/locked/deeper", 0)
os.chmod("/workspace/locked", 0)
os.environ["TRACE"] = tag
ctypes.CDLL(None).shmget(0x7A11, 4096, 0o1000 | 0o600)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("\\0trace-" + tag)
listener.listen(1)
subprocess.Popen(["bash", "-c", "exec -a ${MARKER} sleep 300"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)  # holds the listener, escaped from the runner's process tree
    os._exit(0)
print(socket.gethostname(), oct(os.stat("/workspace").st_mode & 0o777), flush=True)
os.chmod("/workspace", 0o700)
time.sleep(60)
`;

/** Prints the container's hostname, then every trace it finds, then "done". */
const lookForTraces = (tag: string) => `
import ctypes, os, socket
tag = ${JSON.stringify(tag)}
print(socket.gethostname())
for path in ["/workspace/trace-" + tag, "/tmp/trace-" + tag, "/dev/shm/trace-" + tag, "/workspace/locked"]:
    if os.path.lexists(path):
        print("file", path)
print("workspace", sorted(os.listdir("/workspace")), oct(os.stat("/workspace").st_mode & 0o777))
print("tmp", os.listdir("/tmp"), "shm", os.listdir("/dev/shm"))
if os.environ.get("TRACE"):
    print("environment")
if ctypes.CDLL(None).shmget(0x7A11, 0, 0) != -1:
    print("shared memory")
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect("\\0trace-" + tag)
    print("socket")
except OSError:
    pass
for pid in [name for name in os.listdir("/proc") if name.isdigit()]:
    try:
        if b"${MARKER}" in open("/proc/%s/cmdline" % pid, "rb").read():
            print("process", pid)
    except OSError:
        pass
print("done")
`;

if (await dockerAvailable()) {
  describe("docker one-shot executions in pooled containers (oneShotReuse)", () => {
    let backend: DockerBackend | undefined;
    afterAll(() => backend?.close());

    it("gives the next execution in the same container nothing of the last: files, processes, sockets, IPC, environment", async () => {
      // No warm pool: each execution takes the one idle container, so both run in the same one.
      backend = await createDockerBackend({ ...testSettings(labels), oneShotReuse: true, pool: false, sessionPool: false });
      const tag = randomUUID().slice(0, 8);
      const run = (code: string, timeoutMs: number) =>
        (backend as DockerBackend).execute({ code, timeoutMs, lastLineInteractive: false, files: [] });

      const first = await run(leaveTraces(tag), 5000);
      expect(first).toMatchObject({ timedOut: true, exitCode: null, stderr: "" });
      const [hostname, mode] = first.stdout.trim().split(" ");
      expect(hostname).not.toBe("");

      const second = await run(lookForTraces(tag), 10_000);
      expect(second.stderr).toBe("");
      expect(second.stdout).toBe(`${hostname}\nworkspace ['__main__.py'] ${mode}\ntmp [] shm []\ndone\n`);
      await backend.whenIdle();
      // One container served both, and stays for the next (warm: not a leftover).
      const execContainers = (await containersLabelled(labels, { includeWarm: true })).filter((name) => name.startsWith("code-exec-"));
      expect(execContainers).toHaveLength(1);
      expect(await containersLabelled(labels)).toEqual([]);
    }, 120_000);

    it("ends its containers on close", async () => {
      await backend?.close();
      backend = undefined;
      expect(await containersLabelled(labels, { includeWarm: true })).toEqual([]);
    }, 60_000);
  });
} else {
  describe.skip("docker one-shot executions in pooled containers (no Docker engine or executor image)", () => {
    it("runs against a real engine", () => {});
  });
}
