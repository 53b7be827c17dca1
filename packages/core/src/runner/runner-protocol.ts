import { StringDecoder } from "node:string_decoder";
import { BackendUnavailableError, InvalidRequestError } from "../errors.js";
import { type CodeError, type OutputCallbacks, type OutputChunk, OutputCollector, type RichResult } from "../output.js";
import { packWorkspace, type UnpackOptions, type WorkspaceFileContent, WorkspaceUnpacker } from "../workspace/workspace-tar.js";
import { parseCodeError, parseRichResult } from "./rich-result-parsing.js";

/** Resource limits the runner applies to the command it starts (setrlimit). */
export interface RunnerLimits {
  cpuSeconds?: number;
  addressSpaceBytes?: number;
  processes?: number;
  fileSizeBytes?: number;
  openFiles?: number;
}

/** One request to the in-sandbox runner. */
export interface RunnerRequest {
  /** Command to run; omit to only stage files and/or take a snapshot. */
  argv?: string[];
  /**
   * The same Python code, for a runner started with `preload`: it runs it in
   * a fork of itself (modules already loaded) instead of starting `argv`.
   */
  inline?: { file: string; showLast: boolean };
  /** Directory files are staged into, the command runs in and the snapshot is taken of. */
  cwd: string;
  env?: Record<string, string>;
  files?: readonly WorkspaceFileContent[];
  /** Python code for a kernel (`kernelArgv`) to run in its own process, keeping its variables. */
  cell?: { code: string; showLast: boolean };
  /** Code written to an absolute path for the command and removed after it. */
  script?: { path: string; content: string };
  stdin?: string | null;
  timeoutMs?: number;
  maxOutputBytes: number;
  limits?: RunnerLimits;
  /** Kill every other process in the sandbox when the command ends (one-shot sandboxes). */
  killAll?: boolean;
  snapshot?: boolean;
  maxSnapshotBytes?: number;
}

/** What the runner reported. */
export interface RunnerResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  timedOut: boolean;
  /** Time the command ran, measured inside the sandbox. */
  durationMs: number;
  snapshot: WorkspaceFileContent[];
  snapshotTruncated: boolean;
  /** Files the snapshot left out, and why (absent when none was). */
  skippedFiles?: { path: string; reason: string }[];
  /** A kernel whose cell would not stop ended itself (its variables are gone). */
  restarted?: boolean;
  /** What Python code displayed, in order (empty for other commands). */
  results?: RichResult[];
  /** The exception Python code raised, or null. */
  error?: CodeError | null;
  /** A session kernel's count of the cells it ran, this one included. */
  executionCount?: number;
}

/**
 * The bytes to write to the runner's stdin. Keep its stdin open until the
 * answer has come: the runner ends what it runs, and itself, when its input
 * ends (a server that is gone leaves no sandbox running).
 */
export async function encodeRunnerRequest(request: RunnerRequest): Promise<Buffer> {
  const archive = request.files && request.files.length > 0 ? await packWorkspace(request.files) : Buffer.alloc(0);
  const stdin = Buffer.from(request.stdin ?? "", "utf8");
  const header = {
    argv: request.argv ?? null,
    cwd: request.cwd,
    env: request.env ?? {},
    script: request.script ?? null,
    inline: request.inline ? { file: request.inline.file, show_last: request.inline.showLast } : null,
    cell: request.cell ? { code: request.cell.code, show_last: request.cell.showLast } : null,
    timeout_ms: request.timeoutMs ?? 0,
    max_output_bytes: request.maxOutputBytes,
    kill_all: request.killAll ?? false,
    snapshot: request.snapshot ?? false,
    max_snapshot_bytes: request.maxSnapshotBytes ?? 1024 ** 3,
    limits: {
      cpu_seconds: request.limits?.cpuSeconds,
      address_space_bytes: request.limits?.addressSpaceBytes,
      processes: request.limits?.processes,
      file_size_bytes: request.limits?.fileSizeBytes,
      open_files: request.limits?.openFiles,
    },
    tar_bytes: archive.length,
    stdin_bytes: stdin.length,
    // The caller keeps the runner's stdin open until it has the answer: the runner takes its end
    // as the server being gone, ends what it runs and exits, so no sandbox outlives its server.
    watch_input: true,
  };
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), archive, stdin]);
}

/** The runner's framing: one type byte, a big-endian uint32 length, the payload. */
const HEADER_BYTES = 5;
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/**
 * Decodes the runner's stdout as it arrives. Output frames are handed to
 * `onStdout` or `onStderr` at once, rich results to `onResult`, (decoded per stream, so split characters survive) and
 * collected up to `maxOutputBytes`. The snapshot is unpacked as its frames
 * arrive, under `snapshot`'s rules (its size cap, and a taker for its files).
 */
export class RunnerResponseDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private readonly output: Record<OutputChunk["stream"], { collector: OutputCollector; decoder: StringDecoder }>;
  /** The snapshot, unpacked as its frames arrive: never held whole. */
  private readonly snapshot: WorkspaceUnpacker;
  private result: Record<string, unknown> | undefined;
  private corrupt: string | undefined;
  private readonly results: RichResult[] = [];

  constructor(
    maxOutputBytes: number,
    private readonly callbacks: OutputCallbacks = {},
    snapshot: UnpackOptions = {},
  ) {
    this.snapshot = new WorkspaceUnpacker(snapshot);
    this.output = {
      stdout: { collector: new OutputCollector(maxOutputBytes), decoder: new StringDecoder("utf8") },
      stderr: { collector: new OutputCollector(maxOutputBytes), decoder: new StringDecoder("utf8") },
    };
  }

  /**
   * Feeds bytes read from the runner. False when the snapshot's taker is
   * behind: read no more until `whenDrained` resolves.
   */
  push(chunk: Buffer): boolean {
    if (this.corrupt || this.result) return true;
    let flowing = true;
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= HEADER_BYTES) {
      const kind = String.fromCharCode(this.pending[0] ?? 0);
      const length = this.pending.readUInt32BE(1);
      if (length > MAX_FRAME_BYTES || !"oefdxr".includes(kind)) {
        this.corrupt = `the sandbox runner sent an unreadable frame (type ${JSON.stringify(kind)})`;
        return true;
      }
      if (this.pending.length < HEADER_BYTES + length) break;
      const payload = this.pending.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.pending = this.pending.subarray(HEADER_BYTES + length);
      if (!this.handle(kind, payload)) flowing = false;
    }
    return flowing;
  }

  /** Resolves when the snapshot's taker has caught up. */
  whenDrained(): Promise<void> {
    return this.snapshot.whenDrained();
  }

  /** Handles one frame; false when the snapshot asks for a pause. */
  private handle(kind: string, payload: Buffer): boolean {
    if (kind === "r") return true; // a preloaded runner's "ready" (RunnerChannel takes it first; a bare decoder skips it)
    if (kind === "o" || kind === "e") {
      const stream = kind === "o" ? "stdout" : "stderr";
      const { collector, decoder } = this.output[stream];
      const kept = collector.push(payload);
      const text = kept.length ? decoder.write(kept) : "";
      if (text) this.emit(stream, text);
    } else if (kind === "f") {
      return this.snapshot.write(payload);
    } else if (kind === "d") {
      let parsed: RichResult | undefined;
      try {
        parsed = parseRichResult(JSON.parse(payload.toString("utf8")));
      } catch {
        parsed = undefined; // a result that does not parse is left out, like any the code could forge
      }
      if (parsed) {
        this.results.push(parsed);
        this.callbacks.onResult?.(parsed);
      }
    } else {
      try {
        this.result = JSON.parse(payload.toString("utf8")) as Record<string, unknown>;
      } catch {
        this.corrupt = "the sandbox runner sent an unreadable result";
      }
    }
    return true;
  }

  private emit(stream: OutputChunk["stream"], data: string): void {
    (stream === "stdout" ? this.callbacks.onStdout : this.callbacks.onStderr)?.(data);
  }

  /** True once the final result frame has arrived. */
  get done(): boolean {
    return this.result !== undefined;
  }

  /**
   * The runner's result, or undefined when it did not finish (killed, or the
   * code tampered with it); throws with the runner's own error message.
   */
  async finish(): Promise<RunnerResult | undefined> {
    if (this.corrupt) throw new BackendUnavailableError({ message: this.corrupt });
    const result = this.result;
    if (!result) return undefined;
    if (typeof result.error === "string") throw new BackendUnavailableError({ message: `the sandbox runner failed: ${result.error}` });
    if (typeof result.missing_command === "string") {
      throw new InvalidRequestError({
        message: `this backend's sandbox has no ${JSON.stringify(result.missing_command)}, so it cannot run that language; its image predates the environment declaration (rebuild it). Languages it has: python, bash`,
      });
    }
    for (const [stream, { collector, decoder }] of Object.entries(this.output)) {
      const rest = decoder.end();
      if (rest) this.emit(stream as OutputChunk["stream"], rest);
      if (result[`${stream}_truncated`] === true) collector.markTruncated();
    }
    return {
      stdout: this.output.stdout.collector.toString(),
      stderr: this.output.stderr.collector.toString(),
      exitCode: typeof result.exit_code === "number" ? result.exit_code : null,
      timedOut: result.timed_out === true,
      durationMs: typeof result.duration_ms === "number" ? result.duration_ms : 0,
      snapshot: await this.snapshot.finish(),
      snapshotTruncated: result.snapshot_truncated === true,
      ...skippedFilesOf(result.skipped_files),
      restarted: result.restarted === true,
      results: this.results,
      error: parseCodeError(result.exception),
      ...(typeof result.execution_count === "number" ? { executionCount: result.execution_count } : {}),
    };
  }

  /** What was collected so far, for a runner that never finished. */
  partialOutput(): { stdout: string; stderr: string } {
    return { stdout: this.output.stdout.collector.toString(), stderr: this.output.stderr.collector.toString() };
  }
}

/** The runner's `skipped_files`, kept only where well-formed (the sandbox is not trusted). */
function skippedFilesOf(value: unknown): { skippedFiles?: { path: string; reason: string }[] } {
  if (!Array.isArray(value)) return {};
  const skippedFiles = value
    .filter((entry): entry is { path: string; reason: string } => typeof entry?.path === "string" && typeof entry?.reason === "string")
    .slice(0, 100)
    .map(({ path, reason }) => ({ path, reason }));
  return skippedFiles.length ? { skippedFiles } : {};
}
