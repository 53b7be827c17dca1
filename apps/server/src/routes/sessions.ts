import {
  createSessionBashRequestSchema,
  createSessionPythonRequestSchema,
  FileNotFoundError,
  SessionCreateRequestSchema,
  SessionKeepaliveRequestSchema,
  type WorkspaceFileContent,
  type WorkspaceFileStream,
} from "@code-interpreter/core";
import { readContent, validateWorkspacePath } from "@code-interpreter/core/workspace";
import { resolveFileInputs } from "@code-interpreter/files";
import { type Context, Hono } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { withExecutionSlot } from "../execution-slots.js";
import { readJsonBody } from "../middleware/json-body.js";
import { assertLanguage } from "./languages.js";
import { codeOptions, commandJson, sessionJson, sessionPythonJson } from "./mappers.js";
import { richResultMapper } from "./rich-results.js";
import { streamExecution } from "./sse.js";

/** `/v1/sessions`: create, list, keepalive, delete, bash, python, and reading the session's files. */
export function sessionRoutes(server: ServerContext) {
  const { config, backend } = server;
  const limits = { maxExecTimeoutMs: config.MAX_EXEC_TIMEOUT_MS };
  const bashSchema = createSessionBashRequestSchema(limits);
  const pythonSchema = createSessionPythonRequestSchema(limits);
  const maxBody = config.MAX_REQUEST_BODY_MB * 1024 * 1024;
  const ttl = (requested: number | undefined) =>
    Math.min(requested ?? config.SESSION_DEFAULT_TTL_SECONDS, config.SESSION_MAX_LIFETIME_SECONDS);
  /** The session id of the path, once the caller is known to own that session. */
  const owned = async (c: Context<Env>) => {
    const sessionId = c.req.param("sessionId") ?? "";
    await server.tenancy.assertOwns(c, sessionId);
    return sessionId;
  };
  const python = async (c: Context<Env>) => {
    const body = await readJsonBody(c, pythonSchema, maxBody);
    assertLanguage(server, body.language);
    return { ...codeOptions(body), sessionId: await owned(c) };
  };

  return new Hono<Env>()
    .post("/v1/sessions", async (c) => {
      const body = await readJsonBody(c, SessionCreateRequestSchema, maxBody);
      if (body.language) assertLanguage(server, body.language);
      const { owner, view } = accessOf(c);
      const files = await resolveFileInputs(server.store, body.files, view);
      await server.tenancy.assertRoomForSession(c);
      const session = await backend.createSession({
        ttlSeconds: ttl(body.ttl_seconds),
        files,
        signal: c.req.raw.signal,
        ...(owner.tenant === undefined ? {} : { tenant: owner.tenant }),
      });
      return c.json(sessionJson(session), 201);
    })
    .get("/v1/sessions", async (c) => c.json({ sessions: server.tenancy.visible(c, await backend.listSessions()).map(sessionJson) }))
    .get("/v1/sessions/:sessionId", async (c) => c.json(sessionJson(await server.tenancy.session(c, c.req.param("sessionId")))))
    .delete("/v1/sessions/:sessionId", async (c) => {
      const sessionId = await owned(c);
      await backend.deleteSession(sessionId);
      server.tenancy.forget(sessionId);
      return c.body(null, 204);
    })
    .post("/v1/sessions/:sessionId/keepalive", async (c) => {
      const body = await readJsonBody(c, SessionKeepaliveRequestSchema, maxBody);
      return c.json(sessionJson(await backend.extendSession(await owned(c), ttl(body.ttl_seconds))));
    })
    .post("/v1/sessions/:sessionId/bash", async (c) => {
      const body = await readJsonBody(c, bashSchema, maxBody);
      const sessionId = await owned(c);
      const result = await withExecutionSlot(server, c, () =>
        backend.runInSession({
          sessionId,
          language: "bash",
          code: body.cmd,
          timeoutMs: body.timeout_ms,
          signal: c.req.raw.signal,
        }),
      );
      return c.json(commandJson(result));
    })
    .post("/v1/sessions/:sessionId/python", async (c) => {
      const options = await python(c);
      const result = await withExecutionSlot(server, c, () => backend.runInSession({ ...options, signal: c.req.raw.signal }));
      return c.json(await sessionPythonJson(server, c, result));
    })
    .post("/v1/sessions/:sessionId/python/stream", async (c) => {
      const options = await python(c);
      await backend.getSession(options.sessionId);
      const rich = richResultMapper(server, c);
      return streamExecution(
        c,
        server,
        async (callbacks, signal) => sessionPythonJson(server, c, await backend.runInSession({ ...options, ...callbacks, signal }), rich),
        rich.one,
      );
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
    });
}
