import type { Command } from "commander";
import type { Context } from "../shared.js";
import { registerExecutionsGet } from "./get.js";
import { registerExecutionsLogs } from "./logs.js";
import { registerExecutionsRm } from "./rm.js";

/** `executions get|logs|rm`: background executions (`exec --background`). */
export function registerExecutions(program: Command, context: Context): void {
  const executions = program.command("executions").description("follow background executions started with `exec --background`");
  registerExecutionsGet(executions, context);
  registerExecutionsLogs(executions, context);
  registerExecutionsRm(executions, context);
}
