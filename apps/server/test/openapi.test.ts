import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiPath } from "../src/openapi/openapi-document.js";
import { createTestApp, json, postJson, type TestApp } from "./fixture.js";

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  anyOf?: Schema[];
  minimum?: number;
  maximum?: number;
  $ref?: string;
};
// biome-ignore lint/suspicious/noExplicitAny: the document is plain JSON
type Document = any;

/** Routes that serve the documentation itself rather than the API. */
const DOCUMENTATION_ROUTES = new Set([
  "GET /openapi.json",
  "GET /docs",
  "GET /docs/init.js",
  "GET /docs/:asset",
  // The rich results example page and its script.
  "GET /docs/results",
  "GET /docs/results.js",
]);
/**
 * MCP's Streamable HTTP endpoint: JSON-RPC described by the MCP specification
 * and by its own `tools/list`, not by OpenAPI (its tools call the documented
 * routes). Left out of the comparison, and checked to stay out of the document.
 */
const MCP_ROUTES = new Set(["POST /mcp", "GET /mcp", "DELETE /mcp"]);

// Generous: some tests run code on every documented route, which a loaded machine makes slow.
describe("GET /openapi.json", { timeout: 60_000 }, () => {
  let test: TestApp;
  let document: Document;
  let sessionId: string;

  beforeAll(async () => {
    test = await createTestApp({ MAX_EXEC_TIMEOUT_MS: "5000" });
    document = await json(await test.app.request("/openapi.json"));
    sessionId = (await json(await postJson(test.app, "/v1/sessions", {}))).session_id;
  });
  afterAll(() => test?.close());

  it("is a valid OpenAPI 3.1 document", async () => {
    expect(document.openapi).toBe("3.1.0");
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("describes exactly the routes the server answers", () => {
    const answered = test.app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${route.path}`)
      .filter((route) => !DOCUMENTATION_ROUTES.has(route) && !MCP_ROUTES.has(route));
    const served = new Set(answered.map((route) => route.replace(/ (.*)$/, (_, path: string) => ` ${openApiPath(path)}`)));
    const documented = new Set(
      Object.entries(document.paths as Record<string, object>).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    expect([...served].sort()).toEqual([...documented].sort());
    const routes = new Set(test.app.routes.map((route) => `${route.method} ${route.path}`));
    expect([...MCP_ROUTES].filter((route) => !routes.has(route))).toEqual([]);
    expect(document.paths["/mcp"]).toBeUndefined();
  });

  it("uses onyx's path templates, so generated clients name parameters file_id and session_id", () => {
    const paths = Object.keys(document.paths);
    expect(paths).toEqual(
      expect.arrayContaining(["/v1/files/{file_id}", "/v1/sessions/{session_id}", "/v1/sessions/{session_id}/files/{path}"]),
    );
    expect(paths.filter((path) => /\{[^}]*[A-Z][^}]*\}/.test(path))).toEqual([]);
    expect(document.paths["/v1/files/{file_id}"].get.parameters).toEqual([expect.objectContaining({ name: "file_id", in: "path" })]);
    expect(document.paths["/v1/sessions/{session_id}"].delete.parameters).toEqual([
      expect.objectContaining({ name: "session_id", in: "path" }),
    ]);
  });

  // Each documented JSON body is checked against what its route really accepts.
  const bodyRoutes = () =>
    Object.entries(document.paths as Record<string, Record<string, Document>>).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.requestBody?.content?.["application/json"])
        .map(([method, operation]) => ({ method, path, schema: resolve(operation.requestBody.content["application/json"].schema) })),
    );
  const resolve = (schema: Schema): Schema =>
    schema.$ref ? document.components.schemas[schema.$ref.replace("#/components/schemas/", "")] : schema;
  const send = (path: string, body: unknown, method = "post") =>
    method === "post"
      ? postJson(test.app, path.replace("{session_id}", sessionId), body)
      : test.app.request(path.replace("{session_id}", sessionId), {
          method: method.toUpperCase(),
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
  const typesOf = (schema: Schema): string[] =>
    schema.anyOf ? schema.anyOf.flatMap(typesOf) : Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  const validValue = (schema: Schema): unknown => {
    const type = typesOf(schema)[0];
    if (type === "integer" || type === "number") return schema.minimum ?? 1;
    if (type === "boolean") return true;
    if (type === "array") return [];
    if (type === "object") return {};
    return "";
  };
  const wrongValue = (schema: Schema): unknown => (typesOf(schema).includes("string") ? 12345 : "not the documented type");
  const minimalBody = (schema: Schema) =>
    Object.fromEntries((schema.required ?? []).map((name) => [name, validValue(schema.properties?.[name] ?? {})]));

  it("documents JSON bodies for every route that reads one", () => {
    expect(bodyRoutes().map((route) => route.path)).toEqual(
      expect.arrayContaining([
        "/v1/execute",
        "/v1/execute/stream",
        "/v1/sessions",
        "/v1/sessions/{session_id}/bash",
        "/v1/sessions/{session_id}/python",
      ]),
    );
  });

  it("accepts a body with only the documented required fields", async () => {
    // PUT …/network needs a session made with `network`, which this server (no egress proxy) cannot make: test/network.test.ts has it.
    for (const route of bodyRoutes().filter((route) => !route.path.endsWith("/network"))) {
      const response = await send(route.path, minimalBody(route.schema), route.method);
      expect(response.status, `${route.path} refused ${JSON.stringify(minimalBody(route.schema))}`).toBeLessThan(300);
    }
  });

  it("refuses a body missing any documented required field", async () => {
    for (const route of bodyRoutes()) {
      for (const name of route.schema.required ?? []) {
        const { [name]: _omitted, ...body } = minimalBody(route.schema);
        const response = await send(route.path, body, route.method);
        expect(response.status, `${route.path} without ${name}`).toBe(422);
        expect((await json(response)).detail).toContain(name);
      }
    }
  });

  it("refuses a field of another type than documented, and integers outside the documented range", async () => {
    for (const route of bodyRoutes()) {
      for (const [name, property] of Object.entries(route.schema.properties ?? {})) {
        const wrong = await send(route.path, { ...minimalBody(route.schema), [name]: wrongValue(property) }, route.method);
        expect(wrong.status, `${route.path} with ${name}: ${JSON.stringify(wrongValue(property))}`).toBe(422);
        if (property.maximum !== undefined) {
          expect((await send(route.path, { ...minimalBody(route.schema), [name]: property.maximum + 1 }, route.method)).status).toBe(422);
        }
        if (property.minimum !== undefined) {
          expect((await send(route.path, { ...minimalBody(route.schema), [name]: property.minimum - 1 }, route.method)).status).toBe(422);
        }
      }
    }
  });

  it("gives the documented limits: timeout_ms up to MAX_EXEC_TIMEOUT_MS", () => {
    expect(resolve(document.paths["/v1/execute"].post.requestBody.content["application/json"].schema).properties?.timeout_ms).toMatchObject(
      {
        type: "integer",
        minimum: 1,
        maximum: 5000,
        default: 2000,
      },
    );
  });
});
