import { createCodeInterpreterClient } from "@code-interpreter/client";
import { Command } from "commander";
import { registerCapabilities } from "./commands/capabilities.js";
import { registerCompletion } from "./commands/completion.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerExec } from "./commands/exec.js";
import { registerExecutions } from "./commands/executions/index.js";
import { registerFiles } from "./commands/files.js";
import { registerImage } from "./commands/image.js";
import { registerMcp } from "./commands/mcp.js";
import { registerServe } from "./commands/serve.js";
import { registerSession } from "./commands/session.js";
import type { Context } from "./commands/shared.js";

interface GlobalOptions {
  url: string;
  apiKey?: string;
  json: boolean;
  quiet: boolean;
}

/** The `code-interpreter` command, ready to parse argv. */
export function createProgram(): Command {
  const program = new Command("code-interpreter")
    .description("Run untrusted code in sandboxes through a code-interpreter server")
    .option("--url <url>", "server URL (CODE_INTERPRETER_URL)", process.env.CODE_INTERPRETER_URL ?? "http://127.0.0.1:8000")
    .option("--api-key <key>", "API key sent as a bearer token (CODE_INTERPRETER_API_KEY)", process.env.CODE_INTERPRETER_API_KEY)
    .option("--json", "print JSON for scripts instead of text", false)
    .option("-q, --quiet", "print only results and errors: no notes, confirmations or progress", false)
    .showHelpAfterError();
  const context: Context = () => {
    const options = program.opts<GlobalOptions>();
    // No client-side timeout: executions are bounded by the server, and uploads may be long.
    const client = createCodeInterpreterClient({
      baseUrl: options.url,
      timeoutMs: 0,
      ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    });
    return { client, output: { json: options.json, quiet: options.quiet } };
  };
  const output = () => {
    const options = program.opts<GlobalOptions>();
    return { json: options.json, quiet: options.quiet };
  };
  registerServe(program);
  registerExec(program, context);
  registerExecutions(program, context);
  registerFiles(program, context);
  registerSession(program, context);
  registerCapabilities(program, context);
  registerImage(program, output);
  registerDoctor(program, output);
  registerMcp(program);
  registerCompletion(program);
  return program;
}
