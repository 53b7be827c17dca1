import type { Command } from "commander";
import { print } from "../../output.js";
import type { Context } from "../shared.js";

/** `executions get <id>`: a background execution's status, and its answer once done. */
export function registerExecutionsGet(executions: Command, context: Context): void {
  executions
    .command("get")
    .description("show a background execution's status, and its answer once done")
    .argument("<execution_id>")
    .action(async (executionId: string) => {
      const { client, output } = context();
      const execution = await client.getExecution(executionId);
      const finished = execution.finished_at ? `, finished ${new Date(execution.finished_at * 1000).toISOString()}` : "";
      const head = `${execution.execution_id}  ${execution.status}  ${execution.kind}${finished}`;
      const detail = execution.result
        ? `\n${JSON.stringify(execution.result, null, 2)}`
        : execution.error
          ? `\n${execution.error.detail}`
          : "";
      print(output, execution, `${head}${detail}`);
    });
}
