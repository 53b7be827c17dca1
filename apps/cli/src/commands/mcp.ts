import type { ApiFetch } from "@code-interpreter/server";
import { type Command, Option } from "commander";

interface McpOptions {
  backend?: string;
}

/** Variables that configure API keys: an MCP server over stdio belongs to the user who started it. */
const KEY_VARIABLES = ["API_KEYS", "ADMIN_API_KEYS", "API_KEYS_FILE"];

/**
 * `mcp`: an MCP server on standard input and output. By default it runs the
 * sandboxes itself (the server's backend selection, no port); with `--url`
 * (or CODE_INTERPRETER_URL) it forwards every tool call to that server.
 * Standard output carries the protocol only: logs go to standard error.
 */
export function registerMcp(program: Command): void {
  program
    .command("mcp")
    .description("serve the code-interpreter tools over MCP on stdio (sandboxes run in-process unless --url names a server)")
    .addOption(
      new Option("-b, --backend <name>", "backend of the in-process sandboxes (EXECUTOR_BACKEND)").choices([
        "auto",
        "local",
        "docker",
        "kubernetes",
      ]),
    )
    .addHelpText(
      "after",
      '\nAgent configuration: {"command": "code-interpreter", "args": ["mcp"]}\nForwarding to a server: code-interpreter mcp --url https://ci.example --api-key <key>',
    )
    .action(async (options: McpOptions) => {
      // Anything printed with console.log would corrupt the protocol stream.
      console.log = console.info = console.debug = console.error;
      const global = program.opts<{ url: string; apiKey?: string }>();
      const forward = program.getOptionValueSource("url") === "cli" || Boolean(process.env.CODE_INTERPRETER_URL);
      const { serveStdio } = await import("@modelcontextprotocol/server/stdio");
      const server = await import("@code-interpreter/server");
      let close = async () => {};
      let createServer: () => ReturnType<typeof server.createMcpServer>;
      if (forward) {
        const api = server.remoteApi(global.url, global.apiKey);
        createServer = () => server.createMcpServer({ api, version: server.VERSION });
        process.stderr.write(`code-interpreter mcp: forwarding tool calls to ${global.url}\n`);
      } else {
        const env = { ...process.env };
        for (const name of KEY_VARIABLES) delete env[name];
        if (options.backend) env.EXECUTOR_BACKEND = options.backend;
        let config: ReturnType<typeof server.loadConfig>;
        try {
          config = server.loadConfig(env);
        } catch (error) {
          if (error instanceof server.ConfigError) {
            process.stderr.write(`${error.message}\n`);
            process.exit(1);
          }
          throw error;
        }
        const logger = server.createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
        // The protocol starts at once (an agent may give up on a slow handshake); the sandboxes start with the first
        // tool call, which waits for them, and when they cannot start, every call says why. Not before: a 2026-07-28
        // client spawns this command once more just to discover the protocol revision (the SDK's stdio probe) and
        // ends that copy within a second, and an agent that only lists the tools needs no sandboxes either.
        let service: ReturnType<typeof server.openService> | undefined;
        const open = () => {
          if (service) return service;
          service = server.openService(config, logger);
          service.then(
            (running) => process.stderr.write(`code-interpreter mcp: sandboxes run in this process (backend: ${running.backend.name})\n`),
            (error: Error) => process.stderr.write(`code-interpreter mcp: the sandboxes cannot start: ${error.message}\n`),
          );
          return service;
        };
        close = async () => (await service?.catch(() => undefined))?.close();
        const defaultTimeoutMs = Math.min(30_000, config.MAX_EXEC_TIMEOUT_MS);
        const api: ApiFetch = async (path, init) => server.inProcessApi((await open()).app)(path, init);
        createServer = () => server.createMcpServer({ api, version: server.VERSION, defaultTimeoutMs });
      }
      // The SDK's stdio entry serves the connection in the era its client opens with (2026-07-28, or a
      // 2025-era initialize), from one server the factory builds for it (and one for a discovery probe).
      const connection = serveStdio(createServer, {
        onerror: (error) => process.stderr.write(`code-interpreter mcp: ${error.message}\n`),
      });
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await connection.close().catch(() => {});
        await close();
        process.exit(0);
      };
      // The client ends the server by closing its standard input (or with a signal).
      process.stdin.once("end", () => void stop());
      process.once("SIGINT", () => void stop());
      process.once("SIGTERM", () => void stop());
    });
}
