#!/usr/bin/env node
// `code-interpreter-server`: the server as a program, configured by the
// environment only. What the container image runs; `code-interpreter serve`
// is the same with command-line options on top.
import { ConfigError, loadConfig } from "./config.js";
import { startServer } from "./server.js";

try {
  const server = await startServer(loadConfig());
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.exit(0);
  };
  // As PID 1 in a container, node has no default handler for these: without them `docker stop` waits, then kills.
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
} catch (error) {
  // A bad variable or an unreachable backend: say which, without a stack trace.
  process.stderr.write(`code-interpreter-server: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
  process.exit(1);
}
