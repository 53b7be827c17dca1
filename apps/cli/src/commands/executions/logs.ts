import type { Command } from "commander";
import { TIMEOUT_EXIT, warn } from "../../output.js";
import { RichResultPrinter } from "../../rich-output.js";
import type { Context } from "../shared.js";

/** `executions logs <id>`: an execution's output from the start (or after an event id), following it live until it ends. */
export function registerExecutionsLogs(executions: Command, context: Context): void {
  executions
    .command("logs")
    .description("print an execution's output from the start and follow it until it ends (reconnects by itself)")
    .argument("<execution_id>")
    .option("--after <event_id>", "start after this event id (what an interrupted `logs` printed last)")
    .option("--results <dir>", "save the images the code displays into this directory", "code-interpreter-results")
    .action(async (executionId: string, options: { after?: string; results: string }) => {
      const { client, output } = context();
      const rich = new RichResultPrinter(client, output, options.results);
      const stream = client.streamExecution(executionId, options.after ? { lastEventId: options.after } : {});
      for await (const event of stream) {
        if (output.json) process.stdout.write(`${JSON.stringify(event)}\n`);
        else if (event.type === "output") (event.data.stream === "stdout" ? process.stdout : process.stderr).write(event.data.data);
        else if (event.type === "display") await rich.show(event.data);
        else if (event.type === "error") throw new Error(event.data.message);
        if (event.type === "result") {
          if (event.data.timed_out && !output.json) warn("[timed out]");
          process.exitCode = event.data.timed_out ? TIMEOUT_EXIT : (event.data.exit_code ?? 1);
        }
      }
    });
}
