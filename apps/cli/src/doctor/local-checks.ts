import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultRootfs } from "@code-interpreter/core/sandbox";
import { type CheckResult, fail, ok, warn } from "./check.js";
import { checkRootfs, prepareFix } from "./environment-checks.js";

/** Settings the local backend reads from the environment, as the server passes them. */
function localSettings(env: NodeJS.ProcessEnv) {
  return { bwrap: env.LOCAL_BWRAP_PATH || "bwrap", python: env.LOCAL_PYTHON || "/usr/bin/python3", rootfs: defaultRootfs(env) };
}

/**
 * The local backend: bubblewrap installed, able to make a user-namespace
 * sandbox, the sandbox environment prepared and current (or, with
 * LOCAL_ROOTFS=host, the host's Python), and then a real execution through
 * the backend's own probe (createLocalBackend with LOCAL_SANDBOX=require).
 * `checkout` is the code-interpreter checkout this CLI runs from, if any.
 */
export async function checkLocal(env: NodeJS.ProcessEnv = process.env, checkout?: string): Promise<CheckResult[]> {
  const { bwrap, python, rootfs } = localSettings(env);
  const results: CheckResult[] = [];

  const version = spawnSync(bwrap, ["--version"], { encoding: "utf8" });
  if (version.error || version.status !== 0) {
    results.push(
      fail(
        "bubblewrap",
        `${bwrap} not found (${version.error?.message ?? version.stderr.trim()})`,
        "apt-get install bubblewrap (or set LOCAL_BWRAP_PATH)",
      ),
    );
  } else {
    results.push(ok("bubblewrap", version.stdout.trim()));
    // The same namespaces the sandbox uses, with nothing inside but `true`.
    const trial = spawnSync(
      bwrap,
      ["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
      {
        encoding: "utf8",
        timeout: 10_000,
      },
    );
    if (trial.status === 0) results.push(ok("user namespace sandbox", "bwrap --unshare-all ran a trivial sandbox"));
    else
      results.push(
        fail("user namespace sandbox", `bwrap could not create a sandbox: ${trial.stderr.trim() || trial.error?.message}`, namespaceFix()),
      );
  }

  if (rootfs !== "host") {
    const { result, manifest } = await checkRootfs(rootfs, checkout);
    results.push(result);
    if (manifest) results.push(ok("python3", `${python} in the sandbox environment: Python ${manifest.python}`));
    if (results.every((check) => check.status === "ok")) results.push(await checkExecution(bwrap, python, rootfs));
    return results;
  }
  results.push(
    warn(
      "sandbox environment",
      "LOCAL_ROOTFS=host: sandboxes run this host's /usr, not the declared environment (pandas, matplotlib… only if the host has them)",
      `unset LOCAL_ROOTFS and prepare the environment: ${prepareFix(checkout)}`,
    ),
  );
  const pythonVersion = spawnSync(python, ["--version"], { encoding: "utf8" });
  if (pythonVersion.error || pythonVersion.status !== 0) {
    results.push(
      fail(
        "python3",
        `${python} does not run (${pythonVersion.error?.message ?? pythonVersion.stderr.trim()})`,
        "apt-get install python3 (or set LOCAL_PYTHON to a Python under /usr)",
      ),
    );
  } else {
    results.push(ok("python3", `${python}: ${pythonVersion.stdout.trim() || pythonVersion.stderr.trim()}`));
  }

  if (results.every((result) => result.status !== "fail")) results.push(await checkExecution(bwrap, python, rootfs));
  return results;
}

/** Runs `print('ok')` in a real sandbox, through the backend's own probe. */
async function checkExecution(bwrapPath: string, python: string, rootfs: string): Promise<CheckResult> {
  const { createLocalBackend } = await import("@code-interpreter/backend-local");
  const stateDir = await mkdtemp(join(tmpdir(), "code-interpreter-doctor-"));
  try {
    const backend = await createLocalBackend({ stateDir, bwrapPath, python, rootfs, sandbox: "require", pool: false, warn: () => {} });
    await backend.close();
    return ok(
      "sandboxed execution",
      `ran Python in a bubblewrap sandbox as uid 65532${rootfs === "host" ? "" : ", in the sandbox environment"}`,
    );
  } catch (error) {
    return fail(
      "sandboxed execution",
      (error as Error).message,
      "see the checks above; LOCAL_SANDBOX=off runs without isolation (never expose such a server)",
    );
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** The exact setting that keeps unprivileged user namespaces from working here. */
function namespaceFix(): string {
  const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").trim() : undefined);
  if (read("/proc/sys/kernel/unprivileged_userns_clone") === "0") return "sudo sysctl -w kernel.unprivileged_userns_clone=1";
  if (read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") === "1") {
    return "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or add an AppArmor profile allowing userns for bwrap)";
  }
  if (read("/proc/sys/user/max_user_namespaces") === "0") return "sudo sysctl -w user.max_user_namespaces=15000";
  if (existsSync("/.dockerenv") || existsSync("/run/.containerenv")) {
    return "this runs in a container that forbids namespaces: start it with --security-opt seccomp=unconfined --security-opt apparmor=unconfined (or use the docker backend)";
  }
  return "allow unprivileged user namespaces on this host (sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)";
}
