import { RunnerChannel } from "../runner/runner-channel.js";
import { packWorkspace, unpackWorkspace, type WorkspaceFileContent } from "../workspace/workspace-tar.js";

/** The ready frame a preloading runner writes first (see RunnerChannel). */
const READY_FRAME = Buffer.from([0x72, 0, 0, 0, 0]);

/** Which runner a fake sandbox runs: a one-shot sandbox's, a session's Python kernel, or a session's command runner. */
export type FakeRunnerKind = "one-shot" | "kernel" | "commands";

/** A request as the runner reads it from its stdin: the JSON header (snake_case, as on the wire), the staged files, stdin. */
export interface FakeRunnerRequest {
  header: {
    argv: string[] | null;
    cwd: string;
    env: Record<string, string>;
    cell: { code: string; show_last: boolean } | null;
    inline: { file: string; show_last: boolean } | null;
    timeout_ms: number;
    max_output_bytes: number;
    kill_all: boolean;
    snapshot: boolean;
    limits: Record<string, number | undefined>;
    [field: string]: unknown;
  };
  files: WorkspaceFileContent[];
  stdin: string;
  /** The runner that received it. */
  runner: FakeRunner;
}

/** How the fake runner answers a request; every field is optional (an empty answer is exit 0, no output). */
export interface FakeAnswer {
  stdout?: string;
  stderr?: string;
  /** @default 0 */
  exitCode?: number | null;
  timedOut?: boolean;
  /** A kernel that ended itself (its variables are gone). */
  restarted?: boolean;
  /** The runner's own failure (`{"error": …}`): the engine answers 503. */
  runnerError?: string;
  /** The runner ends without answering (it crashed, or was killed): the connection just closes. */
  crash?: boolean;
}

/** Answers each request; may return a promise the test resolves when it likes (a command that takes its time). */
export type FakeResponder = (request: FakeRunnerRequest) => FakeAnswer | Promise<FakeAnswer>;

/**
 * An in-memory runner behind a RunnerChannel, speaking the real runner's
 * wire protocol: it reads the JSON header line, the staged files' tar and
 * stdin from what the engine writes, and answers with framed output (`o`,
 * `e`), the workspace snapshot (`f`) when asked, and the result (`x`). A
 * one-shot runner exits after its answer; a kernel or a command runner takes
 * the next request; any of them exits when its input ends (a hang-up).
 */
export class FakeRunner {
  readonly channel: RunnerChannel;
  /** Every request it received, in order. */
  readonly requests: FakeRunnerRequest[] = [];
  private pending = Buffer.alloc(0);
  private header: FakeRunnerRequest["header"] | undefined;
  private cells = 0;
  private arrivals: ((request: FakeRunnerRequest) => void)[] = [];

  constructor(
    /** The sandbox it runs in: a one-shot sandbox's name, or a session's id. */
    readonly sandbox: string,
    readonly kind: FakeRunnerKind,
    /** The sandbox's files (a session's workspace, shared by its runners). */
    private readonly workspace: Map<string, Buffer>,
    private readonly respond: FakeResponder,
    options: { preload?: readonly string[] } = {},
  ) {
    this.channel = new RunnerChannel({
      write: (data) => this.receive(data),
      // The runner sees the end of its input and exits.
      hangUp: () => queueMicrotask(() => this.channel.end()),
    });
    if (options.preload && options.preload.length > 0) queueMicrotask(() => this.channel.data(READY_FRAME));
  }

  /** False once it has exited. */
  get alive(): boolean {
    return !this.channel.ended;
  }

  /** Resolves with the next request it receives from now on. */
  nextRequest(): Promise<FakeRunnerRequest> {
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  /** Ends the process at once, like a kill: the connection closes, no answer. */
  exit(): void {
    this.channel.end();
  }

  private receive(data: Buffer): void {
    if (!this.alive) return;
    this.pending = Buffer.concat([this.pending, data]);
    for (;;) {
      if (!this.header) {
        const newline = this.pending.indexOf(0x0a);
        if (newline < 0) return;
        this.header = JSON.parse(this.pending.subarray(0, newline).toString("utf8")) as FakeRunnerRequest["header"];
        this.pending = this.pending.subarray(newline + 1);
      }
      const tarBytes = Number(this.header.tar_bytes ?? 0);
      const stdinBytes = Number(this.header.stdin_bytes ?? 0);
      if (this.pending.length < tarBytes + stdinBytes) return;
      const header = this.header;
      const archive = this.pending.subarray(0, tarBytes);
      const stdin = this.pending.subarray(tarBytes, tarBytes + stdinBytes).toString("utf8");
      this.pending = this.pending.subarray(tarBytes + stdinBytes);
      this.header = undefined;
      void this.handle(header, archive, stdin);
    }
  }

  private async handle(header: FakeRunnerRequest["header"], archive: Buffer, stdin: string): Promise<void> {
    const files = archive.length > 0 ? await unpackWorkspace(archive) : [];
    for (const file of files) this.workspace.set(file.path, file.content);
    const request: FakeRunnerRequest = { header, files, stdin, runner: this };
    this.requests.push(request);
    for (const arrival of this.arrivals.splice(0)) arrival(request);
    const answer = await this.respond(request);
    if (!this.alive) return;
    if (answer.crash) return this.exit();
    if (answer.stdout) this.frame("o", Buffer.from(answer.stdout));
    if (answer.stderr) this.frame("e", Buffer.from(answer.stderr));
    if (header.snapshot && !answer.runnerError) {
      const snapshot = [...this.workspace].map(([path, content]) => ({ path, content }));
      if (snapshot.length > 0) this.frame("f", await packWorkspace(snapshot));
    }
    if (header.cell) this.cells++;
    const result = answer.runnerError
      ? { error: answer.runnerError }
      : {
          exit_code: answer.exitCode === undefined ? 0 : answer.exitCode,
          timed_out: answer.timedOut === true,
          duration_ms: 1,
          snapshot_truncated: false,
          restarted: answer.restarted === true,
          ...(header.cell ? { execution_count: this.cells } : {}),
        };
    this.frame("x", Buffer.from(JSON.stringify(result)));
    // A one-shot runner's work is done: it exits, and its sandbox stops.
    if (this.kind === "one-shot") this.exit();
  }

  private frame(kind: string, payload: Buffer): void {
    if (!this.alive) return;
    const header = Buffer.alloc(5);
    header.write(kind, 0, "latin1");
    header.writeUInt32BE(payload.length, 1);
    this.channel.data(Buffer.concat([header, payload]));
  }
}
