import type { ReadResourceTemplateCallback } from "@modelcontextprotocol/sdk/server/mcp.js";
import { type McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { ApiError, type ApiFetch } from "./api.js";
import { asText, isImageType, mimeTypeOf, parseFileUri, readFile } from "./content.js";

/**
 * Makes the resource links the tools return readable with `resources/read`
 * too, for clients that fetch links themselves: the same HTTP routes as
 * read_file, so the caller sees only its own tenant's files.
 */
export function registerFileResources(server: McpServer, api: ApiFetch): void {
  const read: ReadResourceTemplateCallback = async (uri, _variables, extra) => {
    const ref = parseFileUri(uri.href);
    if (!ref) throw new McpError(ErrorCode.InvalidParams, `${uri.href} is not a code-interpreter:// file link`);
    try {
      const { name, bytes } = await readFile(api, ref, extra.signal);
      const mimeType = mimeTypeOf(name);
      const text = isImageType(mimeType) ? undefined : asText(bytes);
      return {
        contents: [
          text === undefined ? { uri: uri.href, mimeType, blob: Buffer.from(bytes).toString("base64") } : { uri: uri.href, mimeType, text },
        ],
      };
    } catch (error) {
      // Resources have no tool-error form: a refusal is a JSON-RPC error carrying the reason.
      if (error instanceof ApiError) throw new McpError(ErrorCode.InvalidParams, error.message);
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
