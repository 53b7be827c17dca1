import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { InvalidRequestError, PayloadTooLargeError, TooManyRequestsError } from "@code-interpreter/core";
import type { RecordStore } from "@code-interpreter/files";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { streamEvents } from "../routes/sse.js";

/** The POST routes that take an Idempotency-Key: those that run code or create sessions. */
const ROUTES = [/^\/v1\/execute(\/stream)?$/, /^\/v1\/sessions$/, /^\/v1\/sessions\/[^/]+\/(bash|python|python\/stream)$/];
/** A key: 1 to 255 visible ASCII characters (a UUID, say). */
const KEY = /^[\x21-\x7e]{1,255}$/;
/** Answers up to this size are kept inside the record; larger ones are streamed to a record of their own and served from it. */
export const IDEMPOTENT_INLINE_MAX_BYTES = 64 * 1024;
/** A repeat polls for the first request's answer this often at most. */
const WAIT_POLL_MAX_MS = 1000;

/** What the store keeps for a key: the request it was first used for, and its answer once there is one. */
export interface IdempotencyRecord {
  /** Hash of the route and the canonical body. */
  fingerprint: string;
  state: "running" | "done";
  status?: number;
  content_type?: string;
  /** The answer's body, when small. */
  body?: string;
  /** The record holding the answer's body, when large. */
  body_record?: string;
  /** A stream's execution: a repeat follows its stream from the start. */
  execution_id?: string;
}

/**
 * `Idempotency-Key` on the routes that run code or create sessions. The
 * first request with a key (per tenant) claims it in the shared store
 * (create-if-absent, so two replicas never both run it) and runs detached
 * from its client, so a retry can collect its answer. A repeat with the same
 * route and body gets the first answer (same status and JSON, header
 * `Idempotent-Replayed: true`), waiting while the first still runs; on a
 * stream route it follows the first's execution stream from the start. The
 * same key with another body is 422. Only successful answers are kept
 * (IDEMPOTENCY_TTL_SECONDS): after a refusal or failure the key is free again,
 * so a retry runs.
 */
export function idempotency(server: ServerContext) {
  const { config } = server;
  const maxBody = config.MAX_REQUEST_BODY_MB * 1024 * 1024;
  const runningTtlSeconds = Math.ceil(config.MAX_EXEC_TIMEOUT_MS / 1000) + 120;
  return createMiddleware<Env>(async function idempotencyMiddleware(c, next) {
    if (c.req.method !== "POST" || !ROUTES.some((route) => route.test(c.req.path))) return next();
    const key = c.req.header("idempotency-key");
    if (key === undefined) return next();
    if (!KEY.test(key))
      throw new InvalidRequestError({ message: "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID, say)" });
    const body = await readBody(c, maxBody);
    c.req.raw = new Request(c.req.raw.url, { method: "POST", headers: c.req.raw.headers, body, signal: c.req.raw.signal });
    const fingerprint = sha256(`${c.req.path}\n${canonicalBody(body)}`);
    const name = `idempotency/${sha256(`${accessOf(c).owner.tenant ?? ""}\u0000${key}`)}`;
    const { records } = server.store;
    const until = Date.now() + runningTtlSeconds * 1000;
    for (let delay = 50; ; delay = Math.min(delay * 2, WAIT_POLL_MAX_MS)) {
      const running: IdempotencyRecord = { fingerprint, state: "running" };
      if (await records.put(name, JSON.stringify(running), { ttlSeconds: runningTtlSeconds, ifAbsent: true })) {
        c.set("detached", true);
        await next();
        await remember(c, records, name, fingerprint, config.IDEMPOTENCY_TTL_SECONDS);
        return;
      }
      const existing = await readRecord(records, name);
      if (!existing) continue; // the first request failed meanwhile and freed the key: claim it
      if (existing.fingerprint !== fingerprint) {
        throw new InvalidRequestError({
          message: `Idempotency-Key ${JSON.stringify(key)} was already used for a different request (another body or route); send a new key for a new request`,
        });
      }
      if (existing.state === "done") return replay(c, server, existing);
      if (Date.now() > until) {
        throw new TooManyRequestsError({
          message: `The first request with Idempotency-Key ${JSON.stringify(key)} is still running; retry shortly`,
          retryAfterSeconds: 5,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  });
}

/** Keeps the first request's answer for its repeats, or frees the key when it did not succeed. */
async function remember(c: Context<Env>, records: RecordStore, name: string, fingerprint: string, ttlSeconds: number): Promise<void> {
  const response = c.res;
  const executionId = response.headers.get("x-execution-id");
  const type = response.headers.get("content-type") ?? "application/json";
  if (response.status < 200 || response.status >= 300) {
    await records.delete(name);
    return;
  }
  if (executionId && type.startsWith("text/event-stream")) {
    const done: IdempotencyRecord = { fingerprint, state: "done", status: response.status, execution_id: executionId };
    await records.put(name, JSON.stringify(done), { ttlSeconds });
    return;
  }
  // Read from a copy: up to the inline limit in memory, past it streamed into a record of its own.
  const reader = (response.clone().body as ReadableStream<Uint8Array> | null)?.getReader();
  const head: Uint8Array[] = [];
  let size = 0;
  let overflow: Uint8Array | undefined;
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.length > IDEMPOTENT_INLINE_MAX_BYTES) {
      overflow = value;
      break;
    }
    head.push(value);
    size += value.length;
  }
  const record: IdempotencyRecord = { fingerprint, state: "done", status: response.status, content_type: type };
  if (overflow && reader) {
    async function* rest(): AsyncGenerator<Uint8Array> {
      yield* head;
      yield overflow as Uint8Array;
      for (let next = await reader?.read(); next && !next.done; next = await reader?.read()) yield next.value;
    }
    record.body_record = `${name}.body`;
    await records.put(record.body_record, Readable.from(rest()), { ttlSeconds });
  } else {
    record.body = Buffer.concat(head).toString("utf8");
  }
  await records.put(name, JSON.stringify(record), { ttlSeconds });
}

/** The first answer again. */
async function replay(c: Context<Env>, server: ServerContext, record: IdempotencyRecord): Promise<Response> {
  c.header("Idempotent-Replayed", "true");
  if (record.execution_id) {
    const { view } = accessOf(c);
    await server.executions.get(record.execution_id, view);
    c.header("X-Execution-Id", record.execution_id);
    const executionId = record.execution_id;
    return streamEvents(c, (signal) => server.executions.follow(executionId, view, 0, signal));
  }
  const headers = { "Content-Type": record.content_type ?? "application/json", "Idempotent-Replayed": "true" };
  if (record.body_record) {
    const stream = await server.store.records.stream(record.body_record);
    if (stream) return new Response(Readable.toWeb(stream) as ReadableStream, { status: record.status ?? 200, headers });
  }
  return new Response(record.body ?? "", { status: record.status ?? 200, headers });
}

async function readRecord(records: RecordStore, name: string): Promise<IdempotencyRecord | undefined> {
  const bytes = await records.get(name);
  return bytes ? (JSON.parse(bytes.toString("utf8")) as IdempotencyRecord) : undefined;
}

async function readBody(c: Context<Env>, maxBytes: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (c.req.raw.body) {
    for await (const chunk of c.req.raw.body) {
      size += chunk.length;
      if (size > maxBytes)
        throw new PayloadTooLargeError({ message: `Request body is larger than ${maxBytes} bytes (MAX_REQUEST_BODY_MB)` });
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

/** The body as a repeat is compared: JSON with its keys sorted (so key order and spacing do not matter), else its bytes. */
export function canonicalBody(body: Buffer): string {
  try {
    return JSON.stringify(sortKeys(JSON.parse(body.toString("utf8"))));
  } catch {
    return `bytes:${body.toString("base64")}`;
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
