import { expect, it } from "vitest";
import type { ExecuteOptions, ExecutionResult } from "../backend.js";
import {
  defaultRootfs,
  ENVIRONMENT_MANIFEST_PATH,
  type EnvironmentManifest,
  PREPARE_ROOTFS_SCRIPT,
  readRootfsManifest,
  sandboxEnvironment,
} from "../sandbox/environment.js";
import { describeAlways, type SectionDescribe } from "./suite-sections.js";

type Run = (code: string, extra?: Partial<ExecuteOptions>) => Promise<ExecutionResult>;

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const minor = (version: string | undefined) => version?.split(".").slice(0, 2).join(".");

/** What the sandbox reports about itself: its manifest, its Python, and each declared module's version as imported there. */
function probeCode(modules: readonly string[]): string {
  return `import json, platform, subprocess, sys
try:
    manifest = json.load(open(${JSON.stringify(ENVIRONMENT_MANIFEST_PATH)}))
except OSError:
    manifest = None
versions = {}
for name in ${JSON.stringify(modules)}:
    # One process per module: each import stays within the sandbox's memory limit on its own.
    done = subprocess.run([sys.executable, "-c", f"import {name}; print({name}.__version__)"], capture_output=True, text=True)
    versions[name] = done.stdout.strip() if done.returncode == 0 else "import failed: " + done.stderr.strip()[-300:]
print(json.dumps({"manifest": manifest, "python": platform.python_version(), "versions": versions}))`;
}

/**
 * The sandbox environment every backend must offer, as declared in
 * `environment/environment.conf`: built from this declaration (the manifest
 * the build wrote carries its hash), the same Python minor version and the
 * same module versions as the build recorded and as the local backend's root
 * filesystem holds, a non-interactive matplotlib, and fonts that render a
 * labelled plot without warnings. Run inside `describeBackendContract`.
 */
export function describeSandboxEnvironment(run: Run, section: SectionDescribe = describeAlways): void {
  const declared = sandboxEnvironment();
  const fix = `prepare it from the declaration: sudo bash ${PREPARE_ROOTFS_SCRIPT} (local backend), code-interpreter image build (executor image)`;

  section(
    "sandbox environment",
    () => {
      let report: { manifest: EnvironmentManifest | null; python: string; versions: Record<string, string> } | undefined;
      const probe = async () => {
        if (!report) {
          const result = await run(probeCode(declared.modules), { timeoutMs: 120_000 });
          expect(result, result.stderr).toMatchObject({ exitCode: 0, timedOut: false });
          report = JSON.parse(result.stdout);
        }
        return report as NonNullable<typeof report>;
      };

      it("is built from this declaration", async () => {
        const { manifest } = await probe();
        expect(manifest, `no ${ENVIRONMENT_MANIFEST_PATH} in the sandbox: ${fix}`).not.toBeNull();
        expect(manifest?.hash, `the sandbox's environment is stale: ${fix}`).toBe(declared.hash);
        expect(manifest?.suite).toBe(declared.suite);
        expect(Object.keys(manifest?.modules ?? {}).sort()).toEqual([...declared.modules].sort());
        expect(Object.keys(manifest?.packages ?? {}).sort()).toEqual([...declared.packages].sort());
      });

      it("imports every declared module at the version the build recorded, on the recorded Python", async () => {
        const { manifest, python, versions } = await probe();
        expect(minor(python)).toBe(minor(manifest?.python));
        expect(versions).toEqual(manifest?.modules);
        for (const name of declared.modules) expect(versions[name], name).toMatch(/^\d+\.\d+/);
      });

      it("is the same environment as the local backend's root filesystem", async () => {
        const reference = await readRootfsManifest(defaultRootfs());
        if (!reference && process.env.CI !== "true") return; // Outside CI a machine may have only the image.
        expect(reference, `no prepared root filesystem at ${defaultRootfs()}: ${fix}`).toBeDefined();
        const { manifest, python, versions } = await probe();
        expect(minor(python)).toBe(minor(reference?.python));
        expect(versions).toEqual(reference?.modules);
        expect(manifest?.packages).toEqual(reference?.packages);
      });

      it("has pip and npm, for installs through the egress proxy", async () => {
        const result = await run(
          "import subprocess\nfor tool in (['pip', '--version'], ['npm', '--version']):\n    print(subprocess.run(tool, capture_output=True, text=True).stdout.split()[:2])",
          { timeoutMs: 120_000 },
        );
        expect(result).toMatchObject({ stderr: "", exitCode: 0 });
        expect(result.stdout).toMatch(/^\['pip', '\d+\.\d+[^']*'\]\n\['\d+\.\d+\.\d+'\]\n$/);
      });

      it("has a non-interactive matplotlib backend", async () => {
        const result = await run("import matplotlib\nimport matplotlib.pyplot as plt\nprint(matplotlib.get_backend().lower())", {
          timeoutMs: 120_000,
        });
        expect(result).toMatchObject({ stdout: "agg\n", stderr: "", exitCode: 0 });
      });

      it("has fonts that render a labelled plot without warnings", async () => {
        const result = await run(
          [
            "import matplotlib.pyplot as plt",
            "from matplotlib import font_manager",
            "fig, ax = plt.subplots()",
            "ax.plot([1, 2, 3], [4, 1, 9], label='sales')",
            "ax.set_title('Sales per month – Ünïcode €')",
            "ax.set_xlabel('month')",
            "ax.set_ylabel('amount')",
            "ax.legend()",
            "fig.savefig('plot.png')",
            "print(font_manager.findfont(font_manager.FontProperties(), fallback_to_default=False))",
          ].join("\n"),
          { timeoutMs: 120_000 },
        );
        expect(result.stderr).toBe("");
        expect(result).toMatchObject({ exitCode: 0, timedOut: false });
        expect(result.stdout).toMatch(/\.(ttf|otf)\n$/);
        const png = result.files.find((file) => file.path === "plot.png");
        expect(png?.content.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
      });
    },
    { timeout: 180_000 },
  );
}
