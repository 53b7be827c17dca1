import {
  createSessionBashRequestSchema,
  createSessionPythonRequestSchema,
  FileNotFoundError,
  InvalidRequestError,
  NotSupportedError,
  SessionCreateRequestSchema,
  SessionKeepaliveRequestSchema,
  SessionLifetimeRequestSchema,
  SessionNetworkRequestSchema,
  type WorkspaceFileContent,
  type WorkspaceFileStream,
} from "@code-interpreter/core";
import { readContent, validateWorkspacePath } from "@code-interpreter/core/workspace";
import { OutputSaver, resolveFileInputs } from "@code-interpreter/files";
import { type Context, Hono } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { readJsonBody } from "../middleware/json-body.js";
import { BACKGROUND_STREAM } from "./execute.js";
import { assertLanguage } from "./languages.js";
import {
  codeOptions,
  commandJson,
  networkJson,
  networkOptions,
  sessionDetailJson,
  sessionJson,
  sessionPythonJson,
  snapshotJson,
} from "./mappers.js";
import { runSchemas } from "./request-schemas.js";
import { richResultMapper } from "./rich-results.js";
import { answerCode, type RunnableCode, requestSignal, streamCode } from "./run-modes.js";
import { requestedRuntime } from "./runtimes.js";

/** A backend that keeps no snapshots (one built without a store for them): 501. */
const NO_SNAPSHOTS = "this server's backend keeps no session snapshots: sessions cannot be paused, resumed or forked";

/** `/v1/sessions`: create, list, keepalive, delete, bash, python, reading the session's files, and pause, resume and fork. */
export function sessionRoutes(server: ServerContext) {
  const { config, backend } = server;
  const bashSchema = runSchemas(config, createSessionBashRequestSchema, 30_000);
  const pythonSchema = runSchemas(config, createSessionPythonRequestSchema, 30_000);
  const maxBody = config.MAX_REQUEST_BODY_MB * 1024 * 1024;
  const ttl = (requested: number | undefined) =>
    Math.min(requested ?? config.SESSION_DEFAULT_TTL_SECONDS, config.SESSION_MAX_LIFETIME_SECONDS);
  /** The session id of the path, once the caller is known to own that session. */
  const owned = async (c: Context<Env>) => {
    const sessionId = c.req.param("sessionId") ?? "";
    await server.tenancy.assertOwns(c, sessionId);
    return sessionId;
  };
  /** The lifetime a resume or fork asks for: its optional body's `ttl_seconds`, else the default. */
  const lifetime = async (c: Context<Env>) => {
    // No body at all (`curl -X POST`) is `{}`.
    const body = await readJsonBody(c, SessionLifetimeRequestSchema, maxBody, { optional: true });
    return { ttlSeconds: ttl(body.ttl_seconds) };
  };
  /** A session python request, ready to run: its answer saves the figures it made and stores its rich results. */
  const python = async (c: Context<Env>): Promise<{ code: RunnableCode; background: boolean }> => {
    const body = await readJsonBody(c, pythonSchema, maxBody);
    assertLanguage(server, body.language);
    const options = { ...codeOptions(body), sessionId: await owned(c) };
    const rich = richResultMapper(server, c);
    const { owner } = accessOf(c);
    return {
      background: body.background,
      code: {
        kind: "session_python",
        sessionId: options.sessionId,
        timeoutMs: body.timeout_ms,
        displayJson: rich.one,
        run: async (callbacks, signal) => {
          const result = await backend.runInSession({
            ...options,
            ...callbacks,
            ...(signal ? { signal } : {}),
          });
          const saved = await new OutputSaver(server.store, owner).finish(result.files ?? [], result.skippedFiles);
          return sessionPythonJson(result, saved, await rich.fields(result));
        },
      },
    };
  };

  return (
    new Hono<Env>()
      .post("/v1/sessions", async (c) => {
        const body = await readJsonBody(c, SessionCreateRequestSchema, maxBody);
        if (body.language) assertLanguage(server, body.language);
        const runtime = requestedRuntime(server, body.runtime);
        const { owner, view } = accessOf(c);
        const files = await resolveFileInputs(server.store, body.files, view);
        await server.tenancy.assertRoomForSession(c);
        const session = await backend.createSession({
          ttlSeconds: ttl(body.ttl_seconds),
          files,
          runtime,
          ...networkOptions(body),
          ...(body.on_expire ? { onExpire: body.on_expire } : {}),
          ...(requestSignal(c) ? { signal: requestSignal(c) } : {}),
          ...(owner.tenant === undefined ? {} : { tenant: owner.tenant }),
        });
        return c.json(sessionJson(session), 201);
      })
      .get("/v1/sessions", async (c) => {
        const sessions = server.tenancy.visible(c, await backend.listSessions());
        return c.json({ sessions: sessions.map((session) => sessionDetailJson(session, server.runtimes.defaultRuntime)) });
      })
      .get("/v1/sessions/:sessionId", async (c) => {
        const session = await server.tenancy.session(c, c.req.param("sessionId"));
        return c.json(sessionDetailJson(session, server.runtimes.defaultRuntime));
      })
      .delete("/v1/sessions/:sessionId", async (c) => {
        const sessionId = await owned(c);
        await backend.deleteSession(sessionId);
        server.tenancy.forget(sessionId);
        return c.body(null, 204);
      })
      .put("/v1/sessions/:sessionId/network", async (c) => {
        const policy = await readJsonBody(c, SessionNetworkRequestSchema, maxBody);
        const sessionId = await owned(c);
        if (!backend.updateSessionNetwork) {
          throw new InvalidRequestError({ message: "this server offers no network egress: its backend cannot give sessions a way out" });
        }
        const session = await backend.updateSessionNetwork(sessionId, policy);
        return c.json(sessionDetailJson(session, server.runtimes.defaultRuntime));
      })
      // Pausing waits for the command the session runs (its commands run one at a time): it never answers 409.
      // Past the tenant's TENANT_MAX_SNAPSHOTS or TENANT_MAX_STORED_MB it answers 429, and the session keeps running.
      .post("/v1/sessions/:sessionId/pause", async (c) => {
        const sessionId = await owned(c);
        if (!backend.pauseSession) throw new NotSupportedError({ message: NO_SNAPSHOTS });
        const paused = await backend.pauseSession(sessionId);
        return c.json({ session_id: paused.id, state: "paused" as const, snapshot: snapshotJson(paused.snapshot) });
      })
      .post("/v1/sessions/:sessionId/resume", async (c) => {
        const options = await lifetime(c);
        const sessionId = await owned(c);
        if (!backend.resumeSession) throw new NotSupportedError({ message: NO_SNAPSHOTS });
        const resumed = await backend.resumeSession(sessionId, options);
        return c.json({ session_id: resumed.id, state: "running" as const, expires_at: resumed.expiresAt });
      })
      .post("/v1/sessions/:sessionId/fork", async (c) => {
        const options = await lifetime(c);
        const sessionId = await owned(c);
        if (!backend.forkSession) throw new NotSupportedError({ message: NO_SNAPSHOTS });
        await server.tenancy.assertRoomForSession(c);
        return c.json(sessionJson(await backend.forkSession(sessionId, options)), 201);
      })
      .post("/v1/sessions/:sessionId/keepalive", async (c) => {
        const body = await readJsonBody(c, SessionKeepaliveRequestSchema, maxBody);
        return c.json(sessionJson(await backend.extendSession(await owned(c), ttl(body.ttl_seconds))));
      })
      .post("/v1/sessions/:sessionId/bash", async (c) => {
        const body = await readJsonBody(c, bashSchema, maxBody);
        const sessionId = await owned(c);
        const code: RunnableCode = {
          kind: "session_bash",
          sessionId,
          timeoutMs: body.timeout_ms,
          run: async (_callbacks, signal) => {
            const result = await backend.runInSession({
              sessionId,
              language: "bash",
              code: body.cmd,
              timeoutMs: body.timeout_ms,
              ...(signal ? { signal } : {}),
            });
            return { ...commandJson(result), ...networkJson(result) };
          },
        };
        return answerCode(c, server, code, body.background);
      })
      .post("/v1/sessions/:sessionId/python", async (c) => {
        const { code, background } = await python(c);
        return answerCode(c, server, code, background);
      })
      .post("/v1/sessions/:sessionId/python/stream", async (c) => {
        const { code, background } = await python(c);
        if (background) throw new InvalidRequestError({ message: BACKGROUND_STREAM });
        await backend.getSession(code.sessionId as string);
        return streamCode(c, server, code);
      })
      .get("/v1/sessions/:sessionId/files", async (c) => {
        // Only names and sizes are kept (a file's bytes are skipped as they come): a large workspace is never held.
        const files: { path: string; kind: "file"; size_bytes: number }[] = [];
        const listed = await backend.readSessionFiles(await owned(c), {
          onFile: (file) => void files.push({ path: file.path, kind: "file", size_bytes: file.size }),
        });
        for (const file of listed) files.push({ path: file.path, kind: "file", size_bytes: file.content.length });
        return c.json({ files });
      })
      .get("/v1/sessions/:sessionId/files/*", async (c) => {
        const sessionId = await owned(c);
        const prefix = `/v1/sessions/${sessionId}/files/`;
        const path = validateWorkspacePath(decodeURIComponent(c.req.path.slice(prefix.length)));
        // Only the file asked for is kept as the workspace goes by (a backend that cannot stream returns them all).
        let file: WorkspaceFileContent | undefined;
        const onFile = async (entry: WorkspaceFileStream) => {
          if (entry.path === path) file = { path, content: await readContent(entry.content) };
        };
        for (const entry of await backend.readSessionFiles(sessionId, { onFile })) if (entry.path === path) file = entry;
        if (!file) throw new FileNotFoundError({ message: `No file ${JSON.stringify(path)} in session ${sessionId}` });
        return c.body(new Uint8Array(file.content), 200, { "Content-Type": "application/octet-stream" });
      })
  );
}
