import { type CheckResult, fail, ok } from "./check.js";

/** The oldest Node the packages support (their `engines`). */
export const MIN_NODE_MAJOR = 22;

/** Node itself: the server and CLI need Node 22 or newer. */
export function checkNode(version = process.versions.node): CheckResult {
  const major = Number(version.split(".")[0]);
  if (major >= MIN_NODE_MAJOR) return ok("Node.js", `v${version}`);
  return fail(
    "Node.js",
    `v${version} is older than ${MIN_NODE_MAJOR}`,
    `install Node ${MIN_NODE_MAJOR} or newer (bash scripts/bootstrap.sh installs Node 24)`,
  );
}
