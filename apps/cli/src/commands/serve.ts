import { type Command, Option } from "commander";
import { reexecWithMemorySettings } from "./memory-settings.js";

interface ServeOptions {
  host?: string;
  port?: string;
  backend?: string;
}

/** `serve`: starts the HTTP server; options override the environment variables. */
export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("start the code-interpreter server (configured by environment variables)")
    .option("--host <host>", "address to listen on (HOST, default 127.0.0.1)")
    .option("-p, --port <port>", "port to listen on (PORT, default 8000)")
    .addOption(new Option("-b, --backend <name>", "backend (EXECUTOR_BACKEND)").choices(["auto", "local", "docker", "kubernetes"]))
    .action(async (options: ServeOptions) => {
      // Before anything else: it may replace this process with one that has the memory settings.
      reexecWithMemorySettings();
      const { ConfigError, loadConfig, runtimeOffer, startServer } = await import("@code-interpreter/server");
      const env = { ...process.env };
      if (options.host) env.HOST = options.host;
      if (options.port) env.PORT = options.port;
      if (options.backend) env.EXECUTOR_BACKEND = options.backend;
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(env);
      } catch (error) {
        if (error instanceof ConfigError) {
          process.stderr.write(`${error.message}\n`);
          process.exit(1);
        }
        throw error;
      }
      const server = await startServer(config);
      const runtimes = runtimeOffer(server.backend).runtimes.join(", ");
      process.stderr.write(`code-interpreter listening on ${server.url} (backend: ${server.backend.name}, runtimes: ${runtimes})\n`);
      const stop = async (signal: string) => {
        process.stderr.write(`${signal}: shutting down\n`);
        await server.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop("SIGINT"));
      process.once("SIGTERM", () => void stop("SIGTERM"));
    });
}
