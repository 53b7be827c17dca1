import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";

const SCRIPT = join("images", "executor", "build-offline.sh");

/** `image build`: builds the executor image offline (debootstrap + docker import). */
export function registerImage(program: Command): void {
  program
    .command("image")
    .description("the sandbox image of the docker backend")
    .command("build")
    .description("build the executor image from Debian packages, with no registry (skipped when it exists)")
    .option("--image <name>", "image name (PYTHON_EXECUTOR_DOCKER_IMAGE, default code-interpreter-executor:latest)")
    .option("--force", "rebuild even when the image exists")
    .action(async (options: { image?: string; force?: boolean }) => {
      const script = findScript();
      if (!script) {
        throw new Error(
          `cannot find ${SCRIPT}: run this from a code-interpreter checkout, or build with: docker build -t code-interpreter-executor images/executor`,
        );
      }
      const env = { ...process.env };
      if (options.image) env.PYTHON_EXECUTOR_DOCKER_IMAGE = options.image;
      if (options.force) env.FORCE_REBUILD = "1";
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn("bash", [script], { stdio: "inherit", env });
        child.on("error", reject);
        child.on("close", (exit) => resolve(exit ?? 1));
      });
      process.exitCode = code;
    });
}

/** The build script of the checkout this CLI runs from, or of the current directory's. */
function findScript(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, SCRIPT))) return join(dir, SCRIPT);
    if (dirname(dir) === dir) break;
  }
  const local = join(process.cwd(), SCRIPT);
  return existsSync(local) ? local : undefined;
}
