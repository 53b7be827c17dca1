import type { Command } from "commander";
import { confirm } from "../../output.js";
import type { Context } from "../shared.js";

/** `executions rm <id>`: cancels a running execution, or forgets a finished one. */
export function registerExecutionsRm(executions: Command, context: Context): void {
  executions
    .command("rm")
    .description("cancel a running execution, or forget a finished one")
    .argument("<execution_id>")
    .action(async (executionId: string) => {
      const { client, output } = context();
      await client.deleteExecution(executionId);
      confirm(output, { deleted: executionId }, `deleted ${executionId}`);
    });
}
