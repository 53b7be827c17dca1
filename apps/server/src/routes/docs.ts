import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Hono } from "hono";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { createOpenApiDocument } from "../openapi/openapi-document.js";

/** The only files of swagger-ui-dist the page needs; nothing else of the package is served. */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>code-interpreter API</title>
  <link rel="icon" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="api-reference"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#api-reference",
  deepLinking: true,
  tryItOutEnabled: true,
  displayRequestDuration: true,
  validatorUrl: null,
  persistAuthorization: true,
});
`;

/**
 * `GET /openapi.json` and the API reference at `/docs`: Swagger UI served from
 * the server's own dependencies, so it works with no network.
 */
export function docsRoutes(server: ServerContext) {
  const document = createOpenApiDocument({
    maxExecTimeoutMs: server.config.MAX_EXEC_TIMEOUT_MS,
    version: server.version,
    apiKeys: server.keys.size > 0,
  });
  const assetsDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const cache = new Map<string, Promise<Buffer>>();
  const security = {
    // Everything the page loads comes from this server.
    "Content-Security-Policy":
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
  };
  return new Hono<Env>()
    .get("/openapi.json", (c) => c.json(document))
    .get("/docs", (c) => c.html(PAGE, 200, security))
    .get("/docs/init.js", (c) => c.body(INIT, 200, { "Content-Type": "text/javascript; charset=utf-8", ...security }))
    .get("/docs/:asset", async (c) => {
      const asset = c.req.param("asset");
      const type = ASSETS[asset];
      if (!type) return c.json({ detail: `No route for GET ${c.req.path}` }, 404);
      if (!cache.has(asset)) cache.set(asset, readFile(join(assetsDir, asset)));
      return c.body(new Uint8Array(await (cache.get(asset) as Promise<Buffer>)), 200, {
        "Content-Type": type,
        "Cache-Control": "public, max-age=86400",
        ...security,
      });
    });
}
