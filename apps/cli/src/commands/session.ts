import { type Command, Option } from "commander";
import { type Output, print, TIMEOUT_EXIT, table, warn } from "../output.js";
import { RichResultPrinter } from "../rich-output.js";
import {
  type Context,
  collect,
  integer,
  type NetworkFlags,
  networkOptions,
  networkRequest,
  noteNetwork,
  readSource,
  registerRemove,
  runtimeOption,
  uploadInputs,
} from "./shared.js";

/** `session create|ls|rm|bash|python|network|pause|resume|fork`. */
export function registerSession(program: Command, context: Context): void {
  const session = program.command("session").description("work in a session: a workspace that persists between commands");
  const create = session
    .command("create")
    .description("start a session; prints its id")
    .option("--ttl <seconds>", "lifetime in seconds", integer)
    .option("-f, --file <local[:path]>", "upload a local file into the session's workspace (repeatable)", collect, [])
    .addOption(runtimeOption())
    .addOption(
      new Option("--on-expire <action>", "when the TTL runs out: delete the session, or pause it (resume brings it back)").choices([
        "delete",
        "pause",
      ]),
    )
    .action(
      async (options: { ttl?: number; file: string[]; runtime?: "default" | "gvisor"; onExpire?: "delete" | "pause" } & NetworkFlags) => {
        const { client, output } = context();
        const files = await uploadInputs(client, output, options.file);
        const created = await client.createSession({
          ...(options.ttl ? { ttl_seconds: options.ttl } : {}),
          files,
          ...(options.runtime ? { runtime: options.runtime } : {}),
          ...(options.onExpire ? { on_expire: options.onExpire } : {}),
          ...networkRequest(options),
        });
        print(output, created, created.session_id);
      },
    );
  networkOptions(create);
  session
    .command("network")
    .description("replace the network policy of a session made with --allow-out; connections the new one forbids are closed")
    .argument("<session_id>")
    .option("--allow-out <entry>", "a domain, *.domain, IP or CIDR the code may reach (repeatable; none: nothing)", collect, [])
    .option("--deny-out <entry>", "an IP or CIDR it may never reach (repeatable)", collect, [])
    .action(async (sessionId: string, options: { allowOut: string[]; denyOut: string[] }) => {
      const { client, output } = context();
      const updated = await client.setSessionNetwork(sessionId, { allow_out: options.allowOut, deny_out: options.denyOut });
      const policy = updated.network;
      print(
        output,
        updated,
        `allow_out: ${policy?.allow_out.join(", ") || "(nothing)"}\ndeny_out: ${policy?.deny_out.join(", ") || "(none)"}`,
      );
    });
  session
    .command("ls")
    .description("list sessions")
    .action(async () => {
      const { client, output } = context();
      const sessions = await client.listSessions();
      const rows = [
        ["SESSION_ID", "EXPIRES_AT", "RUNTIME", "STATE"],
        ...sessions.map((s) => [s.session_id, new Date(s.expires_at * 1000).toISOString(), s.runtime ?? "default", s.state ?? "running"]),
      ];
      print(output, { sessions }, sessions.length ? table(rows) : "no sessions");
    });
  registerRemove(session, context, {
    description: "delete a session",
    argument: "session_id",
    remove: (client, id) => client.deleteSession(id),
  });
  session
    .command("pause")
    .description("pause a session: its workspace is kept as a snapshot and its sandbox freed (waits for a command it runs)")
    .argument("<session_id>")
    .action(async (sessionId: string) => {
      const { client, output } = context();
      const paused = await client.pauseSession(sessionId);
      const kept = paused.snapshot.memory ? "files and memory" : "files only: a resume starts a fresh Python";
      print(output, paused, `paused ${paused.session_id} (${paused.snapshot.bytes} bytes, ${kept})`);
    });
  session
    .command("resume")
    .description("resume a paused session (a command sent to it does this too)")
    .argument("<session_id>")
    .option("--ttl <seconds>", "lifetime in seconds from now", integer)
    .action(async (sessionId: string, options: { ttl?: number }) => {
      const { client, output } = context();
      const resumed = await client.resumeSession(sessionId, options.ttl ? { ttl_seconds: options.ttl } : {});
      print(output, resumed, `running ${resumed.session_id} until ${new Date(resumed.expires_at * 1000).toISOString()}`);
    });
  session
    .command("fork")
    .description("start a new session with a copy of a running or paused session's workspace; prints its id")
    .argument("<session_id>")
    .option("--ttl <seconds>", "the copy's lifetime in seconds", integer)
    .action(async (sessionId: string, options: { ttl?: number }) => {
      const { client, output } = context();
      const fork = await client.forkSession(sessionId, options.ttl ? { ttl_seconds: options.ttl } : {});
      print(output, fork, fork.session_id);
    });
  session
    .command("bash")
    .description("run a bash command in the session's /workspace")
    .argument("<session_id>")
    .argument("<cmd...>", "the command (joined with spaces)")
    .option("-t, --timeout <ms>", "timeout in milliseconds", integer)
    .action(async (sessionId: string, words: string[], options: { timeout?: number }) => {
      const { client, output } = context();
      const result = await client.runBash(sessionId, {
        cmd: words.join(" "),
        ...(options.timeout ? { timeout_ms: options.timeout } : {}),
      });
      report(output, result);
    });
  session
    .command("python")
    .description("run a Python file (or - for stdin) in the session")
    .argument("<session_id>")
    .argument("<file>")
    .option("-t, --timeout <ms>", "timeout in milliseconds", integer)
    .option("--results <dir>", "save the images the code displays into this directory", "code-interpreter-results")
    .action(async (sessionId: string, file: string, options: { timeout?: number; results: string }) => {
      const { client, output } = context();
      const code = await readSource(file);
      const result = await client.runPython(sessionId, { code, ...(options.timeout ? { timeout_ms: options.timeout } : {}) });
      report(output, result);
      if (!output.json) {
        const rich = new RichResultPrinter(client, output, options.results);
        for (const item of result.results ?? []) await rich.show(item);
      }
    });
}

function report(
  output: Output,
  result: {
    stdout: string;
    stderr: string;
    exit_code: number | null;
    timed_out: boolean;
    network?: { host: string; port: number; allowed: boolean; reason?: string }[];
  },
): void {
  if (output.json) print(output, result, "");
  else {
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    if (result.timed_out) warn("[timed out]");
    noteNetwork(output, result.network);
  }
  process.exitCode = result.timed_out ? TIMEOUT_EXIT : (result.exit_code ?? 1);
}
