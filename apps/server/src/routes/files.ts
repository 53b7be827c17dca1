import { Readable } from "node:stream";
import { type FileMetadata, InvalidRequestError, PayloadTooLargeError } from "@code-interpreter/core";
import type { FileAccess } from "@code-interpreter/files";
import busboy from "busboy";
import { Hono } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";

/** Room for the multipart framing around the file itself. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** `/v1/files`: upload (multipart field `file`), list, download, delete. */
export function fileRoutes(server: ServerContext) {
  const maxFileBytes = server.config.MAX_FILE_SIZE_MB * 1024 * 1024;
  /** onyx's words first (its clients match them), then which setting to change. */
  const tooLarge = (cause?: unknown) =>
    new PayloadTooLargeError({ message: `File size exceeds maximum of ${server.config.MAX_FILE_SIZE_MB} MB (MAX_FILE_SIZE_MB)`, cause });

  return new Hono<Env>()
    .post("/v1/files", async (c) => {
      const type = c.req.header("content-type") ?? "";
      if (!/^multipart\/form-data\b/i.test(type)) {
        throw new InvalidRequestError({ message: "Upload a file as multipart/form-data with the field 'file'" });
      }
      // Refused before anything is stored when the client says how big it is.
      const declared = Number(c.req.header("content-length"));
      if (declared > maxFileBytes + MULTIPART_OVERHEAD_BYTES) {
        // Clients such as httpx send the whole body before they read the answer; cut off, they see
        // a broken pipe instead of the 413. So a body up to twice the limit is read (and kept nowhere) first.
        if (declared <= 2 * (maxFileBytes + MULTIPART_OVERHEAD_BYTES)) await discard(c.req.raw.body);
        throw tooLarge();
      }
      const body = c.req.raw.body;
      if (!body) throw new InvalidRequestError({ message: "multipart field 'file' is required" });
      await server.tenancy.assertRoomForFiles(c);
      const metadata = await saveMultipartFile(server, type, Readable.fromWeb(body), maxFileBytes, accessOf(c).owner).catch(
        (error: unknown) => {
          // The store's own wording differs by store; the answer is onyx's either way.
          throw PayloadTooLargeError.isInstance(error) ? tooLarge(error) : error;
        },
      );
      return c.json({ file_id: metadata.file_id, filename: metadata.filename, size_bytes: metadata.size_bytes }, 201);
    })
    .get("/v1/files", async (c) => {
      const files = await server.store.list(accessOf(c).view);
      // The tenant stays on the server: the answer is exactly the onyx shape.
      return c.json({
        files: files.map(({ file_id, filename, size_bytes, upload_time }) => ({ file_id, filename, size_bytes, upload_time })),
      });
    })
    .get("/v1/files/:fileId", async (c) => {
      const { metadata, stream } = await server.store.stream(c.req.param("fileId"), accessOf(c).view);
      return new Response(Readable.toWeb(stream) as ReadableStream, {
        headers: {
          "Content-Type": "application/octet-stream",
          "Content-Length": String(metadata.size_bytes),
          "Content-Disposition": contentDisposition(metadata.filename),
        },
      });
    })
    .delete("/v1/files/:fileId", async (c) => {
      await server.store.delete(c.req.param("fileId"), accessOf(c).view);
      return c.body(null, 204);
    });
}

/** Reads a body to its end, keeping none of it. */
async function discard(body: ReadableStream<Uint8Array> | null): Promise<void> {
  if (!body) return;
  try {
    for await (const _chunk of body);
  } catch {
    // The client went away: nothing to answer.
  }
}

/** Streams the `file` field of a multipart body into the store; other fields are ignored. */
function saveMultipartFile(
  server: ServerContext,
  contentType: string,
  body: Readable,
  maxFileBytes: number,
  owner: FileAccess,
): Promise<FileMetadata> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      // One byte past the limit lets the store see the overflow and refuse it.
      // Filenames are UTF-8 as browsers, curl and fetch send them (busboy assumes Latin-1).
      parser = busboy({
        headers: { "content-type": contentType },
        defParamCharset: "utf8",
        limits: { files: 1, fileSize: maxFileBytes + 1, fields: 20 },
      });
    } catch (error) {
      reject(new InvalidRequestError({ message: `Malformed multipart body: ${(error as Error).message}` }));
      return;
    }
    let saving: Promise<FileMetadata> | undefined;
    parser.on("file", (field, stream, info) => {
      if (field !== "file" || saving) {
        stream.resume();
        return;
      }
      const save = server.store.save(stream, info.filename ?? "file", owner);
      saving = save;
      save.catch((error) => {
        body.unpipe(parser);
        body.resume();
        reject(error);
      });
    });
    parser.on("error", (error: Error) => reject(new InvalidRequestError({ message: `Malformed multipart body: ${error.message}` })));
    parser.on("close", () => {
      if (!saving) reject(new InvalidRequestError({ message: "multipart field 'file' is required" }));
      else saving.then(resolve, reject);
    });
    body.on("error", reject);
    body.pipe(parser);
  });
}

/** `attachment; filename="…"`, with an RFC 5987 form for names that are not plain ASCII. */
function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  return ascii === filename ? `attachment; filename="${filename}"` : `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
