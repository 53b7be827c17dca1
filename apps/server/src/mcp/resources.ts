import {
  type McpServer,
  ProtocolError,
  ProtocolErrorCode,
  type ReadResourceTemplateCallback,
  ResourceNotFoundError,
  ResourceTemplate,
} from "@modelcontextprotocol/server";
import { ApiError, type ApiFetch } from "./api.js";
import { asText, isImageType, mimeTypeOf, parseFileUri, readFile } from "./content.js";

/**
 * Makes the resource links the tools return readable with `resources/read`
 * too, for clients that fetch links themselves: the same HTTP routes as
 * read_file, so the caller sees only its own tenant's files.
 */
export function registerFileResources(server: McpServer, api: ApiFetch): void {
  const read: ReadResourceTemplateCallback = async (uri, _variables, ctx) => {
    const ref = parseFileUri(uri.href);
    if (!ref) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${uri.href} is not a code-interpreter:// file link`);
    try {
      const { name, bytes } = await readFile(api, ref, ctx.mcpReq.signal);
      const mimeType = mimeTypeOf(name);
      const text = isImageType(mimeType) ? undefined : asText(bytes);
      return {
        contents: [
          text === undefined ? { uri: uri.href, mimeType, blob: Buffer.from(bytes).toString("base64") } : { uri: uri.href, mimeType, text },
        ],
      };
    } catch (error) {
      // Resources have no tool-error form: a refusal is a JSON-RPC error carrying the reason
      // (a missing file is the spec's resource-not-found, -32602 with the uri).
      if (error instanceof ApiError && error.status === 404) throw new ResourceNotFoundError(uri.href, error.message);
      if (error instanceof ApiError) throw new ProtocolError(ProtocolErrorCode.InvalidParams, error.message);
      throw error;
    }
  };
  server.registerResource(
    "stored-file",
    new ResourceTemplate("code-interpreter://files/{file_id}", { list: undefined }),
    { title: "Stored file", description: "A stored file (an upload, or a file a one-shot run produced), by file_id" },
    read,
  );
  server.registerResource(
    "session-file",
    new ResourceTemplate("code-interpreter://sessions/{session_id}/files/{+path}", { list: undefined }),
    { title: "Session file", description: "A file in a session's /workspace, by path" },
    read,
  );
}
