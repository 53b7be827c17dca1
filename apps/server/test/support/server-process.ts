import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The server program (`code-interpreter-server`), built: fault tests run it as a real process. */
export const SERVER_MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

/** A server running as a child process. */
export interface ServerProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Everything it wrote so far (stdout and stderr: start-up lines, logs). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  /** Sends a signal; SIGKILL leaves everything as a crash would. */
  kill(signal: NodeJS.Signals): void;
  /** Stops it if still running (SIGKILL), for cleanup. */
  stop(): Promise<void>;
}

/** Options of startServerProcess. */
export interface ServerProcessOptions {
  /** Environment on top of a minimal one (PATH, HOME, JSON logs); PORT defaults to 0 (a free port). */
  env: Record<string, string>;
  /** How long start-up may take. @default 120 s (a loaded machine, a warm pool filling) */
  startTimeoutMs?: number;
}

/**
 * Starts the server program with the given environment on a free
 * loopback port and resolves once it prints the address it listens on.
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVER_MAIN], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      HOST: "127.0.0.1",
      PORT: "0",
      // The address is read from the JSON "listening" line.
      LOG_LEVEL: "info",
      LOG_FORMAT: "json",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (data) => {
    output += String(data);
  });
  child.stderr?.on("data", (data) => {
    output += String(data);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  const kill = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not start within ${options.startTimeoutMs ?? 120_000} ms`), options.startTimeoutMs ?? 120_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      kill("SIGKILL");
      reject(new Error(`server ${why}:\n${output}`));
    };
    const look = () => {
      const match = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        child.stdout?.off("data", look);
        child.stderr?.off("data", look);
        resolve(match[1]);
      }
    };
    // Logs may go to either stream.
    child.stdout?.on("data", look);
    child.stderr?.on("data", look);
    void exited.then((code) => fail(`exited (${code}) before listening`));
  });
  return {
    url,
    pid: child.pid ?? -1,
    child,
    output: () => output,
    exited,
    kill,
    stop: async () => {
      kill("SIGKILL");
      await exited;
    },
  };
}

/** What waitFor resolves with: the check's first truthy value. */
type Truthy<T> = Exclude<T, false | null | undefined | 0 | "">;

/** Polls `check` until it returns a truthy value, failing with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 60_000, intervalMs = 200): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/** An answer of postJson. */
export interface JsonAnswer {
  status: number;
  headers: Response["headers"];
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on the shape
  body: any;
}

/** POSTs JSON and returns status, headers and parsed body (or the text when it is not JSON). */
export async function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<JsonAnswer> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...init,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, body: json };
}

/** A streamed execution whose code has started: it printed its first line. */
export interface StartedStream {
  /** What the stream has sent so far. */
  seen: string;
  /** The rest of the stream, until it ends or its connection breaks. */
  rest(): Promise<string>;
}

/**
 * Starts `code` through `/v1/execute/stream` and resolves once it has printed `marker`:
 * from then on the code is surely running in its sandbox (not waiting for one).
 */
export async function streamUntilPrinted(serverUrl: string, code: string, marker: string, timeoutMs = 30_000): Promise<StartedStream> {
  const stream = await fetch(`${serverUrl}/v1/execute/stream`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code, timeout_ms: timeoutMs }),
  });
  if (stream.status !== 200) throw new Error(`the stream answered ${stream.status}: ${await stream.text()}`);
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let seen = "";
  while (!seen.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before the code printed ${marker}: ${seen}`);
    seen += decoder.decode(value, { stream: true });
  }
  return {
    seen,
    rest: async () => {
      let rest = "";
      try {
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
          rest += decoder.decode(chunk.value, { stream: true });
      } catch {
        // the connection was reset
      }
      return rest;
    },
  };
}
