import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DECLARED_ENV_VARIABLES } from "../engine/execution-plan.js";
import { defaultRootfs, parseEnvironment, sandboxEnvironment } from "./environment.js";

const environmentScript = fileURLToPath(new URL("../../../../images/environment/environment.sh", import.meta.url));
/** What the build scripts compute from the same declaration. */
const shell = (expression: string, env: NodeJS.ProcessEnv = {}) =>
  execFileSync("bash", ["-c", `. ${environmentScript}; ${expression}`], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, ...env },
  }).trim();

describe("the sandbox environment declaration", () => {
  it("declares the data stack, a font, pip and npm, and a non-interactive matplotlib", () => {
    const environment = sandboxEnvironment({});
    expect(environment.packages).toEqual(
      expect.arrayContaining(["python3", "python3-pandas", "python3-matplotlib", "fonts-dejavu-core", "python3-pip", "npm"]),
    );
    expect(environment.modules).toEqual(expect.arrayContaining(["numpy", "pandas", "matplotlib", "openpyxl", "scipy"]));
    expect(environment.env.MPLBACKEND).toBe("Agg");
    expect(DECLARED_ENV_VARIABLES).toEqual(environment.env);
  });

  // Five bash runs of the build scripts' parser: seconds on a loaded machine, so no 5 s default.
  it("has the hash, suite, packages and root filesystem path the build scripts compute", { timeout: 60_000 }, () => {
    const environment = sandboxEnvironment({});
    expect(shell("environment_hash")).toBe(environment.hash);
    expect(shell("environment_suite")).toBe(environment.suite);
    // debootstrap's packages, then those apt-get installs after it.
    expect([...shell("environment_packages").split(","), ...shell("environment_apt_packages").split(" ")]).toEqual(environment.packages);
    expect(shell("environment_rootfs")).toBe(defaultRootfs({}));
    expect(shell("environment_hash", { DEBIAN_SUITE: "trixie" })).toBe(sandboxEnvironment({ DEBIAN_SUITE: "trixie" }).hash);
  });

  it("changes its hash when the declaration or the suite changes", () => {
    const text = "revision 1\nsuite bookworm\npackage python3\nenv A=b=c\nmodule numpy\n";
    const base = parseEnvironment(text);
    expect(base.env).toEqual({ A: "b=c" });
    expect(parseEnvironment(`${text}package python3-scipy\n`).hash).not.toBe(base.hash);
    expect(parseEnvironment(text, "trixie").hash).not.toBe(base.hash);
    expect(parseEnvironment(text).hash).toBe(base.hash);
  });
});
