import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import type { Command } from "commander";
import type { Output } from "../output.js";
import { createProgress } from "../progress.js";
import { palette } from "../style.js";

const SCRIPT = join("images", "executor", "build-offline.sh");

/** `image build`: builds the executor image offline (debootstrap + docker import). */
export function registerImage(program: Command, output: () => Output): void {
  program
    .command("image")
    .description("the sandbox image of the docker backend")
    .command("build")
    .description("build the executor image from the sandbox environment, with no registry (skipped when its environment label is current)")
    .option("--image <name>", "image name (PYTHON_EXECUTOR_DOCKER_IMAGE, default code-interpreter-executor:latest)")
    .option("--force", "rebuild even when the image is current")
    .action(async (options: { image?: string; force?: boolean }) => {
      const script = findBuildScript();
      if (!script) {
        throw new Error(
          `cannot find ${SCRIPT}: run this from a code-interpreter checkout, or build with: docker build -t code-interpreter-executor images/executor`,
        );
      }
      const env = { ...process.env };
      if (options.image) env.PYTHON_EXECUTOR_DOCKER_IMAGE = options.image;
      if (options.force) env.FORCE_REBUILD = "1";
      process.exitCode = await runBuild(script, env, output());
    });
}

/**
 * Runs the build script. On a terminal its `==> step` lines become one
 * progress line with the step number and elapsed time; elsewhere its output
 * passes through untouched.
 */
function runBuild(script: string, env: NodeJS.ProcessEnv, output: Output): Promise<number> {
  const progress = createProgress(output);
  const interactive = !output.quiet && process.stderr.isTTY === true;
  return new Promise<number>((resolve, reject) => {
    const child = spawn("bash", [script], { stdio: ["inherit", "inherit", interactive ? "pipe" : "inherit"], env });
    let step = 0;
    let title = "";
    let started = Date.now();
    const draw = () => progress.update(`[step ${step}] ${title} (${Math.round((Date.now() - started) / 1000)} s)`);
    const ticker = interactive ? setInterval(draw, 1000) : undefined;
    if (child.stderr) {
      const dim = palette(process.stderr).dim;
      createInterface({ input: child.stderr }).on("line", (line) => {
        const plain = stripVTControlCharacters(line);
        if (plain.startsWith("==> ")) {
          if (step > 0) process.stderr.write(`\r\u001b[2K${dim(`✔ [step ${step}] ${title}`)}\n`);
          step++;
          title = plain.slice(4);
          started = Date.now();
        } else {
          progress.done();
          process.stderr.write(`${line}\n`);
        }
        draw();
      });
    }
    child.on("error", reject);
    child.on("close", (exit) => {
      clearInterval(ticker);
      progress.done();
      // The last step line is the script's summary (built, or already there): keep it on screen.
      if (interactive && title) process.stderr.write(`${title}\n`);
      resolve(exit ?? 1);
    });
  });
}

/** The build script of the checkout this CLI runs from, or of the current directory's. */
export function findBuildScript(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, SCRIPT))) return join(dir, SCRIPT);
    if (dirname(dir) === dir) break;
  }
  const local = join(process.cwd(), SCRIPT);
  return existsSync(local) ? local : undefined;
}
