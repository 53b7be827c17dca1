import type { Command } from "commander";
import { type Context, registerRemove } from "../shared.js";

/** `executions rm <id>`: cancels a running execution, or forgets a finished one. */
export function registerExecutionsRm(executions: Command, context: Context): void {
  registerRemove(executions, context, {
    description: "cancel a running execution, or forget a finished one",
    argument: "execution_id",
    remove: (client, id) => client.deleteExecution(id),
  });
}
