// What the shared snapshot suites stand on (issue 23): a real server over HTTP with two tenants,
// a signing key and its file store in a directory the tests can reach, as an operator's would be.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { expect } from "vitest";

/** A running server the suites talk to over HTTP. */
export interface SnapshotServer {
  /** Its base URL (`http://127.0.0.1:<port>`). */
  url: string;
  /** Its directory file store (FILE_STORAGE_DIR): snapshots are in its `records`, where the hostile suite alters them. */
  fileStorageDir: string;
  /** Stops it and removes its directories. */
  stop(): Promise<void>;
}

/** Options of describeSnapshotContract and describeSnapshotHostile. */
export interface SnapshotSuiteOptions {
  /** Name shown in the test report (the backend, and its runtime when not the default). */
  name: string;
  /**
   * Starts a server on the backend under test with `env` on top of its own
   * (API_KEYS of two tenants, SNAPSHOT_KEY, MAX_SNAPSHOT_MB, no warm pools),
   * the directory file store: one per suite.
   */
  startServer: (env: Record<string, string>) => Promise<SnapshotServer>;
  /** Sandboxes (containers, pods, processes, session directories) of this service still present, each naming its session id. */
  listLeftovers: () => Promise<string[]>;
  /** The runtime sessions ask for (`runtime` on create). @default the server's default */
  runtime?: string;
}

/** The two tenants' API keys: `acme` owns every session the suites make, `globex` tries to reach them. */
export const SNAPSHOT_TENANT_KEYS = { acme: "acme-snapshot-key-0123456789", globex: "globex-snapshot-key-0123456789" } as const;

/** The environment every suite server gets. */
export function snapshotServerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    API_KEYS: `acme=${SNAPSHOT_TENANT_KEYS.acme},globex=${SNAPSHOT_TENANT_KEYS.globex}`,
    SNAPSHOT_KEY: "the-snapshot-suites-signing-key-0123456789",
    // Warm sandboxes would count as leftovers.
    SANDBOX_POOL_MAX: "0",
    SESSION_POOL_MAX: "0",
    SESSION_MAX_LIFETIME_SECONDS: "900",
    ...extra,
  };
}

/** What the server said: its status and JSON body. */
export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on the shape
  body: any;
}

/** The fresh-kernel notice's words (core's FRESH_KERNEL_NOTICE) a resumed or forked session's first answer starts with, without memory. */
export const FRESH_KERNEL_WORDS = /a fresh Python kernel was started/;

/** A tenant's view of the server: each call one HTTP request, as a user's client sends it. */
export class SnapshotClient {
  constructor(
    private readonly server: () => SnapshotServer,
    private readonly key: string,
    private readonly runtime?: string,
  ) {}

  /** One request; one without a body goes as `curl -X POST` sends it: no body, no Content-Length. */
  request(method: string, path: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined)
      Object.assign(headers, { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) });
    return new Promise<Answer>((resolve, reject) => {
      const request = httpRequest(`${this.server().url}${path}`, { method, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          } catch {
            reject(new Error(`${method} ${path} answered ${response.statusCode} with no JSON: ${text.slice(0, 500)}`));
          }
        });
        response.on("error", reject);
      });
      request.on("error", reject);
      request.end(payload);
    });
  }

  /** A new session (201 expected), its id. */
  async create(extra: Record<string, unknown> = {}): Promise<string> {
    const created = await this.request("POST", "/v1/sessions", {
      ttl_seconds: 600,
      ...(this.runtime ? { runtime: this.runtime } : {}),
      ...extra,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.session_id as string;
  }

  python(id: string, code: string, timeoutMs = 30_000): Promise<Answer> {
    return this.request("POST", `/v1/sessions/${id}/python`, { code, timeout_ms: timeoutMs });
  }

  bash(id: string, cmd: string, timeoutMs = 30_000): Promise<Answer> {
    return this.request("POST", `/v1/sessions/${id}/bash`, { cmd, timeout_ms: timeoutMs });
  }

  pause(id: string): Promise<Answer> {
    return this.request("POST", `/v1/sessions/${id}/pause`);
  }

  resume(id: string): Promise<Answer> {
    return this.request("POST", `/v1/sessions/${id}/resume`);
  }

  fork(id: string): Promise<Answer> {
    return this.request("POST", `/v1/sessions/${id}/fork`);
  }

  get(id: string): Promise<Answer> {
    return this.request("GET", `/v1/sessions/${id}`);
  }

  async list(): Promise<{ session_id: string; state: string; memory: boolean }[]> {
    const listed = await this.request("GET", "/v1/sessions");
    expect(listed.status).toBe(200);
    return listed.body.sessions;
  }

  delete(id: string): Promise<Answer> {
    return this.request("DELETE", `/v1/sessions/${id}`);
  }
}

/** The clients of both tenants, and the helpers every suite test uses. */
export function snapshotClients(options: SnapshotSuiteOptions, server: () => SnapshotServer) {
  const acme = new SnapshotClient(server, SNAPSHOT_TENANT_KEYS.acme, options.runtime);
  const globex = new SnapshotClient(server, SNAPSHOT_TENANT_KEYS.globex, options.runtime);
  const records = () => join(server().fileStorageDir, "records");
  /** The names in the store's records that belong to this session's snapshot. */
  const storedFor = async (id: string) => (await readdir(records()).catch(() => [] as string[])).filter((name) => name.includes(id));
  /** Sandboxes still present for this session. */
  const leftoversOf = async (id: string) => (await options.listLeftovers()).filter((line) => line.includes(id));
  return {
    acme,
    globex,
    storedFor,
    leftoversOf,
    /** Reads and rewrites one of a snapshot's stored parts (`record.json` or `filesystem.tar`), as someone with access to the store could. */
    async alter(id: string, part: "record.json" | "filesystem.tar", change: (bytes: Buffer) => Buffer): Promise<Buffer> {
      const name = (await storedFor(id)).find((entry) => entry.includes(part));
      expect(name, `the snapshot's ${part} of ${id} in ${records()}`).toBeDefined();
      const path = join(records(), name as string);
      const original = await readFile(path);
      await writeFile(path, change(original));
      return original;
    },
  };
}
