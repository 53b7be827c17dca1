import { Command } from "commander";
import { registerExec } from "./commands/exec.js";
import { registerFiles } from "./commands/files.js";
import { registerImage } from "./commands/image.js";
import { registerServe } from "./commands/serve.js";
import { registerSession } from "./commands/session.js";
import { HttpClient } from "./http-client.js";
import type { Output } from "./output.js";

/** The `code-interpreter` command, ready to parse argv. */
export function createProgram(): Command {
  const program = new Command("code-interpreter")
    .description("Run untrusted code in sandboxes through a code-interpreter server")
    .option("--url <url>", "server URL", process.env.CODE_INTERPRETER_URL ?? "http://127.0.0.1:8000")
    .option("--json", "print JSON for scripts instead of text", false)
    .showHelpAfterError();
  const context = () => {
    const options = program.opts<{ url: string; json: boolean }>();
    const output: Output = { json: options.json };
    return { client: new HttpClient(options.url), output };
  };
  registerServe(program);
  registerExec(program, context);
  registerFiles(program, context);
  registerSession(program, context);
  registerImage(program);
  return program;
}
