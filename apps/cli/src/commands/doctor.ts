import { dirname, resolve } from "node:path";
import { type Command, Option } from "commander";
import { type CheckGroup, type CheckResult, ready } from "../doctor/check.js";
import { checkDocker } from "../doctor/docker-checks.js";
import { checkKubernetes } from "../doctor/kubernetes-checks.js";
import { checkLocal } from "../doctor/local-checks.js";
import { checkNode } from "../doctor/node-checks.js";
import { checkRuntimes, offeredRuntimes } from "../doctor/runtime-checks.js";
import type { Output } from "../output.js";
import { palette } from "../style.js";
import { findBuildScript } from "./image.js";

type Choice = "auto" | "local" | "docker" | "kubernetes";

/**
 * `doctor [--backend]`: checks what the chosen backend needs on this machine,
 * and each sandbox runtime offered (SANDBOX_RUNTIMES: whether it works, its
 * version), and says how to fix what is missing; exits 0 when it is ready, 1 otherwise.
 */
export function registerDoctor(program: Command, output: () => Output): void {
  program
    .command("doctor")
    .description("check that a backend can run here, and say how to fix what is missing")
    .addOption(
      new Option("-b, --backend <name>", "backend to check (EXECUTOR_BACKEND)")
        .choices(["auto", "local", "docker", "kubernetes"])
        .default(process.env.EXECUTOR_BACKEND || "auto"),
    )
    .action(async (options: { backend: Choice }) => {
      const { verdict, groups, readyNow } = await diagnose(options.backend);
      const out = output();
      if (out.json) process.stdout.write(`${JSON.stringify({ backend: options.backend, ready: readyNow, verdict, groups }, null, 2)}\n`);
      else process.stdout.write(render(groups, verdict, readyNow));
      process.exitCode = readyNow ? 0 : 1;
    });
}

async function diagnose(backend: Choice): Promise<{ groups: CheckGroup[]; verdict: string; readyNow: boolean }> {
  const diagnosis = await diagnoseBackend(backend);
  // The runtimes are checked on the backend the server would use (auto: docker when ready, else local).
  const kind = backend !== "auto" ? backend : diagnosis.verdict.includes("use docker") ? "docker" : "local";
  if (!diagnosis.readyNow) return diagnosis;
  const { runtimes } = offeredRuntimes();
  const results = await checkRuntimes(kind);
  const readyNow = ready(results);
  const title = `sandbox runtimes (SANDBOX_RUNTIMES: ${runtimes.join(", ")}) on ${kind}`;
  return {
    groups: [...diagnosis.groups, { title, results }],
    readyNow,
    verdict: readyNow ? diagnosis.verdict : `${kind}: a sandbox runtime offered is not ready; fix the checks marked above`,
  };
}

async function diagnoseBackend(backend: Choice): Promise<{ groups: CheckGroup[]; verdict: string; readyNow: boolean }> {
  const node = checkNode();
  const nodeGroup: CheckGroup = { title: "Node.js", results: [node] };
  const nodeOk = node.status !== "fail";
  if (backend === "kubernetes") {
    const results = await checkKubernetes();
    const readyNow = nodeOk && ready(results);
    return { groups: [nodeGroup, { title: "kubernetes backend", results }], readyNow, verdict: verdictOf("kubernetes", readyNow) };
  }
  const script = findBuildScript();
  const checkout = script ? resolve(dirname(script), "..", "..") : undefined;
  const local = backend === "docker" ? undefined : await checkLocal(process.env, checkout);
  const docker = backend === "local" ? undefined : await checkDocker(process.env, script);
  const groups = [nodeGroup];
  if (local) groups.push({ title: "local backend (bubblewrap)", results: local });
  if (docker) groups.push({ title: "docker backend", results: docker });
  if (backend !== "auto") {
    const readyNow = nodeOk && ready((local ?? docker) as CheckResult[]);
    return { groups, readyNow, verdict: verdictOf(backend, readyNow) };
  }
  // Like the server's EXECUTOR_BACKEND=auto: docker when it is ready, else the local sandbox.
  const dockerReady = ready(docker ?? []);
  const localReady = ready(local ?? []);
  const readyNow = nodeOk && (dockerReady || localReady);
  const verdict = !readyNow
    ? "auto: no backend is ready; fix the checks marked above"
    : dockerReady
      ? "auto: ready; the server will use docker"
      : "auto: ready; the server will use the local sandbox (docker is not ready, see above)";
  return { groups, readyNow, verdict };
}

function verdictOf(backend: string, readyNow: boolean): string {
  return readyNow ? `${backend}: ready` : `${backend}: not ready; fix the checks marked above`;
}

/** The check list: ✔/✖/! with colour on a terminal, plain `ok`/`FAIL`/`WARN` otherwise. */
function render(groups: CheckGroup[], verdict: string, readyNow: boolean): string {
  const tty = process.stdout.isTTY === true;
  const paint = palette(process.stdout);
  const mark = (result: CheckResult) => {
    if (result.status === "ok") return tty ? paint.green("✔") : "ok  ";
    if (result.status === "fail") return tty ? paint.red("✖") : "FAIL";
    return tty ? paint.yellow("!") : "WARN";
  };
  const lines: string[] = [];
  for (const group of groups) {
    lines.push(paint.bold(group.title));
    for (const result of group.results) {
      lines.push(`  ${mark(result)} ${result.name}: ${result.detail}`);
      if (result.fix) lines.push(`      ${paint.dim("fix:")} ${result.fix}`);
    }
  }
  lines.push("", readyNow ? paint.green(verdict) : paint.red(verdict));
  return `${lines.join("\n")}\n`;
}
