import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLogger, loadConfig, type RunningServer, startServer } from "@code-interpreter/server";
import { serverEnv } from "@code-interpreter/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, type Run, runCli } from "./run-cli.js";

let server: RunningServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ci-cli-"));
  await chmod(dir, 0o711);
  // EGRESS_ALLOW=none: the network flags' test is about a server whose operator turned egress off.
  server = await startServer(
    loadConfig(serverEnv(dir, { PORT: "0", EGRESS_ALLOW: "none" })),
    createLogger({ level: "silent", format: "plain" }),
  );
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the built CLI binary against the live server. */
function cli(args: string[], input?: string): Promise<Run> {
  return cliWithEnv({}, args, input);
}

function cliWithEnv(env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<Run> {
  const { FORCE_COLOR: _force, ...inherited } = process.env;
  return runCli(["--url", server.url, ...args], { cwd: dir, env: { ...inherited, ...env }, input });
}

describe("code-interpreter exec", () => {
  it("streams the code's output and exits with its exit code", async () => {
    await writeFile(join(dir, "job.py"), "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(7)\n");
    const run = await cli(["exec", "job.py"]);
    expect(run).toMatchObject({ stdout: "to out\n", code: 7 });
    expect(run.stderr).toContain("to err\n");
  });

  it("reads code from stdin with -, shows the last expression, and prints JSON with --json", async () => {
    const run = await cli(["--json", "exec", "-"], "x = 6*7\nx");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ stdout: "42\n", exit_code: 0, timed_out: false });
  });

  it("uploads --file inputs and downloads what the code made with --download", async () => {
    await writeFile(join(dir, "numbers.txt"), "1\n2\n3\n");
    const run = await cli(
      ["exec", "-", "--file", `${join(dir, "numbers.txt")}:in/n.txt`, "--download", join(dir, "out")],
      "import os\ntotal = sum(int(line) for line in open('in/n.txt'))\nos.makedirs('result')\nopen('result/total.txt', 'w').write(str(total))\nprint(total)",
    );
    expect(run.stdout).toBe("6\n");
    expect(run.code).toBe(0);
    expect(await readFile(join(dir, "out/result/total.txt"), "utf8")).toBe("6");
  });

  it("exits 124 when the code times out", async () => {
    const run = await cli(["exec", "-", "--timeout", "500"], "while True: pass");
    expect(run.code).toBe(124);
    expect(run.stderr).toContain("timed out");
  });
});

describe("sandbox runtimes", () => {
  it("shows the runtimes the server offers with capabilities, as text and as JSON", async () => {
    const text = await cli(["capabilities"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^runtimes +default \(default\)$/m);
    const asJson = await cli(["--json", "capabilities"]);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ runtimes: ["default"], default_runtime: "default", backend: "local" });
  });

  it("asks for --runtime on exec and session create, and exits 2 with the server's reason for one it does not offer", async () => {
    expect(await cli(["exec", "-", "--runtime", "default"], "print(1)")).toMatchObject({ stdout: "1\n", code: 0 });
    const refused = await cli(["exec", "-", "--runtime", "gvisor"], "print(1)");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('runtime "gvisor" is not offered by this server; it offers: default');
    const session = await cli(["session", "create", "--runtime", "gvisor"]);
    expect(session.code).toBe(2);
    expect(session.stderr).toContain('runtime "gvisor" is not offered');
    const unknown = await cli(["exec", "-", "--runtime", "kata"], "print(1)");
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("Allowed choices are default, gvisor");
  });
});

describe("network egress flags", () => {
  it("sends --allow-out and --deny-out, and exits 2 with the server's reason (this server offers no egress)", {
    timeout: 60_000,
  }, async () => {
    expect((await cli(["capabilities"])).stdout).toMatch(/^network +not offered$/m);
    const refused = await cli(
      ["exec", "-", "--allow-out", "pypi.org", "--allow-out", "*.pythonhosted.org", "--secret", "openai"],
      "print(1)",
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("this server offers no network egress (its operator set EGRESS_ALLOW=none)");
    const badDeny = await cli(["session", "create", "--allow-out", "pypi.org", "--deny-out", "evil.example"]);
    expect(badDeny.code).toBe(2);
    expect(badDeny.stderr).toContain('deny_out entry "evil.example" is not an IP address or a CIDR');
  });
});

describe("code-interpreter files", () => {
  it("uploads, lists, downloads and removes a file", async () => {
    await writeFile(join(dir, "report.csv"), "a,b\n");
    const upload = await cli(["files", "upload", join(dir, "report.csv")]);
    expect(upload.code).toBe(0);
    const fileId = upload.stdout.trim();
    expect(fileId).toMatch(/^[0-9a-f-]{36}$/);
    const listed = await cli(["files", "ls"]);
    expect(listed.stdout).toContain(fileId);
    expect(listed.stdout).toContain("report.csv");
    const get = await cli(["files", "get", fileId, "-o", "-"]);
    expect(get.stdout).toBe("a,b\n");
    expect((await cli(["files", "rm", fileId])).code).toBe(0);
    const gone = await cli(["files", "get", fileId, "-o", "-"]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("not found");
  });
});

describe("code-interpreter session", { timeout: 90_000 }, () => {
  it("creates a session, runs bash in it with state between calls, and removes it", async () => {
    const created = await cli(["session", "create", "--ttl", "120"]);
    const sessionId = created.stdout.trim();
    expect(sessionId).toMatch(/^code-session-/);
    expect((await cli(["session", "bash", sessionId, "echo hello > note.txt"])).code).toBe(0);
    const cat = await cli(["session", "bash", sessionId, "cat note.txt; exit 3"]);
    expect(cat).toMatchObject({ stdout: "hello\n", code: 3 });
    const python = await cli(["session", "python", sessionId, "-"], "open('note.txt').read()");
    expect(python.stdout).toBe("'hello\\n'\n");
    expect((await cli(["session", "ls"])).stdout).toContain(sessionId);
    expect((await cli(["session", "rm", sessionId])).code).toBe(0);
    const again = await cli(["session", "rm", sessionId]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("not found");
  });

  it("pauses, resumes and forks a session, and ls shows it paused", async () => {
    const sessionId = (await cli(["session", "create", "--ttl", "120", "--on-expire", "pause"])).stdout.trim();
    expect((await cli(["session", "bash", sessionId, "echo kept > note.txt"])).code).toBe(0);
    const paused = await cli(["session", "pause", sessionId]);
    expect(paused.stdout).toMatch(new RegExp(`^paused ${sessionId} \\(\\d+ bytes, files only`));
    expect((await cli(["session", "ls"])).stdout).toMatch(new RegExp(`${sessionId} .* paused`));
    const fork = (await cli(["session", "fork", sessionId])).stdout.trim();
    expect(fork).toMatch(/^code-session-/);
    expect((await cli(["session", "resume", sessionId, "--ttl", "60"])).stdout).toContain(`running ${sessionId} until`);
    for (const id of [sessionId, fork]) expect((await cli(["session", "bash", id, "cat note.txt"])).stdout).toBe("kept\n");
    for (const id of [sessionId, fork]) expect((await cli(["session", "rm", id])).code).toBe(0);
    const refused = await cli(["session", "create", "--on-expire", "later"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("Allowed choices are delete, pause");
  });
});

describe("--quiet and colour", () => {
  it("keeps results and drops notes and confirmations with --quiet", async () => {
    await writeFile(join(dir, "q.txt"), "q");
    const upload = await cli(["--quiet", "files", "upload", join(dir, "q.txt")]);
    expect(upload.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    const run = await cli(["--quiet", "exec", "-", "--download", join(dir, "quiet-out")], "open('made.txt', 'w').write('x')\nprint('hi')");
    expect(run).toMatchObject({ stdout: "hi\n", stderr: "", code: 0 });
    expect(await readFile(join(dir, "quiet-out/made.txt"), "utf8")).toBe("x");
    expect(await cli(["--quiet", "files", "rm", upload.stdout.trim()])).toMatchObject({ stdout: "", stderr: "", code: 0 });
  });

  it("prints no colour codes when piped, and red errors only when forced", async () => {
    const plain = await cli(["files", "rm", "no-such-file"]);
    expect(plain.stderr).toMatch(/^error: /);
    const forced = await cliWithEnv({ FORCE_COLOR: "1" }, ["files", "rm", "no-such-file"]);
    expect(forced.stderr.startsWith("\u001b[31merror:\u001b[39m ")).toBe(true);
  });
});

describe("errors", () => {
  it("says how to start the server when none answers", async () => {
    const { stderr } = await promisify(execFile)(process.execPath, [CLI, "--url", "http://127.0.0.1:9", "files", "ls"]).catch(
      (error: Run) => error,
    );
    expect(stderr).toContain("cannot reach the server at http://127.0.0.1:9");
    expect(stderr).toContain("code-interpreter serve");
  });
});

// Each step starts the CLI as a process: seconds apiece on a loaded machine.
describe("code-interpreter exec --background and executions", { timeout: 60_000 }, () => {
  it("starts code in the background, shows it, follows its output, and removes it", async () => {
    await writeFile(join(dir, "slow.py"), "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')\n");
    const started = await cli(["exec", "--background", "-t", "20000", "slow.py"]);
    expect(started.code).toBe(0);
    const executionId = started.stdout.trim();
    expect(executionId).toMatch(/^exec-/);
    const logs = await cli(["executions", "logs", executionId]);
    expect(logs).toMatchObject({ stdout: "first\nsecond\n", code: 0 });
    const shown = await cli(["--json", "executions", "get", executionId]);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      execution_id: executionId,
      status: "completed",
      result: { stdout: "first\nsecond\n" },
    });
    expect((await cli(["executions", "get", executionId])).stdout).toContain(`${executionId}  completed  execute`);
    expect(await cli(["executions", "rm", executionId])).toMatchObject({ stdout: `deleted ${executionId}\n`, code: 0 });
    const gone = await cli(["executions", "get", executionId]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("not found");
  });
});
