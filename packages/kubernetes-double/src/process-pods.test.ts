import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { V1Pod } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { Faults } from "./faults.js";
import type { PodRecord } from "./pod-record.js";
import { ProcessPods } from "./process-pods.js";

const runtimes: ProcessPods[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
});

function newRuntime(): ProcessPods {
  const runtime = new ProcessPods({ instanceId: crypto.randomUUID(), podPidsLimit: 64, touch: () => {} });
  runtimes.push(runtime);
  return runtime;
}

function record(name: string, command: string[], extra: Partial<NonNullable<V1Pod["spec"]>> = {}): PodRecord {
  const pod: V1Pod = {
    metadata: { name, namespace: "test" },
    spec: {
      securityContext: { runAsUser: 65532, runAsGroup: 65532 },
      containers: [
        {
          name: "main",
          image: "ignored",
          command,
          workingDir: "/workspace",
          volumeMounts: [{ name: "workspace", mountPath: "/workspace" }],
          resources: { limits: { memory: "256Mi" } },
        },
      ],
      volumes: [{ name: "workspace", emptyDir: {} }],
      ...extra,
    },
  };
  return { pod, containers: new Map(), deleted: false };
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function exec(runtime: ProcessPods, pod: PodRecord, command: string[]): Promise<{ stdout: string; exitCode: number }> {
  const chunks: Buffer[] = [];
  const stream = await runtime.openStream(
    pod,
    "main",
    { kind: "exec", command, stdin: false, stdout: true, stderr: true },
    { stdout: (data) => chunks.push(data), stderr: () => {} },
  );
  const exitCode = await stream.finished;
  return { stdout: Buffer.concat(chunks).toString(), exitCode };
}

function sandboxesOf(name: string): string {
  try {
    return execFileSync("pgrep", ["-af", "--", `--hostname ${name} `]).toString();
  } catch {
    return "";
  }
}

describe("ProcessPods", () => {
  it("runs a pod to Succeeded, or Failed with its exit code, as the securityContext's uid", async () => {
    const runtime = newRuntime();
    const ok = record("ok", ["python3", "-c", "import os; assert os.getuid() == 65532 and os.getcwd() == '/workspace'"]);
    const failing = record("failing", ["sh", "-c", "exit 7"]);
    await Promise.all([runtime.run(ok, new Faults()), runtime.run(failing, new Faults())]);
    expect(ok.pod.status?.phase).toBe("Succeeded");
    expect(failing.pod.status?.phase).toBe("Failed");
    expect(failing.pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(7);
  });

  it("shares emptyDir files between execs, with their exit codes", async () => {
    const runtime = newRuntime();
    const pod = record("shared", ["sleep", "30"]);
    const running = runtime.run(pod, new Faults());
    await until(() => pod.pod.status?.phase === "Running");
    expect(await exec(runtime, pod, ["sh", "-c", "echo hello > /workspace/note"])).toEqual({ stdout: "", exitCode: 0 });
    expect(await exec(runtime, pod, ["cat", "/workspace/note"])).toEqual({ stdout: "hello\n", exitCode: 0 });
    expect((await exec(runtime, pod, ["sh", "-c", "exit 3"])).exitCode).toBe(3);
    await runtime.remove(pod);
    await running;
  });

  it("gives attach the output written before it, then the rest", async () => {
    const runtime = newRuntime();
    const pod = record("attached", ["python3", "-c", "import sys; print('early', flush=True); print(sys.stdin.readline().strip())"]);
    pod.pod.spec?.containers[0] && Object.assign(pod.pod.spec.containers[0], { stdin: true, stdinOnce: true });
    const running = runtime.run(pod, new Faults());
    await until(() => pod.pod.status?.phase === "Running");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const chunks: Buffer[] = [];
    const stream = await runtime.openStream(
      pod,
      "main",
      { kind: "attach", command: [], stdin: true, stdout: true, stderr: true },
      { stdout: (data) => chunks.push(data), stderr: () => {} },
    );
    stream.write(Buffer.from("late\n"));
    expect(await stream.finished).toBe(0);
    await running;
    expect(Buffer.concat(chunks).toString()).toBe("early\nlate\n");
    expect(pod.pod.status?.phase).toBe("Succeeded");
  });

  it("kills a pod past activeDeadlineSeconds: Failed, DeadlineExceeded", async () => {
    const runtime = newRuntime();
    const pod = record("deadline", ["sleep", "60"], { activeDeadlineSeconds: 1 });
    const started = Date.now();
    await runtime.run(pod, new Faults());
    expect(Date.now() - started).toBeLessThan(5000);
    expect(pod.pod.status).toMatchObject({ phase: "Failed", reason: "DeadlineExceeded" });
    expect(pod.pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(137);
  });

  it("applies the memory limit as RLIMIT_AS (twice the limit: a 1 GiB allocation past a 256 Mi pod fails)", async () => {
    const runtime = newRuntime();
    const pod = record("memory", ["python3", "-c", "bytearray(1024 * 1024 * 1024)"]);
    await runtime.run(pod, new Faults());
    expect(pod.pod.status?.phase).toBe("Failed");
  });

  it("leaves no process or directory behind when a pod is deleted", async () => {
    const runtime = newRuntime();
    const name = `deleted-${crypto.randomUUID().slice(0, 8)}`;
    const pod = record(name, ["sleep", "60"]);
    const running = runtime.run(pod, new Faults());
    await until(() => pod.pod.status?.phase === "Running");
    const slow = exec(runtime, pod, ["sleep", "60"]);
    await until(() => sandboxesOf(name).split("\n").filter(Boolean).length >= 2);
    const [dir] = (await runtime.leftovers()).filter((entry) => entry.startsWith("directory ")).map((entry) => entry.slice(10));
    expect(dir && existsSync(dir)).toBe(true);
    await runtime.remove(pod);
    await running;
    expect((await slow).exitCode).toBe(137);
    expect(await runtime.leftovers()).toEqual([]);
    expect(dir && existsSync(dir)).toBe(false);
    expect(sandboxesOf(name)).toBe("");
  });
});
