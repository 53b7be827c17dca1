import { ErrorResponseSchema, type RequestLimits } from "@code-interpreter/core";
import { z } from "zod";
import { type ApiOperation, type ApiResponse, apiOperations, namedSchemas } from "./api-operations.js";

type JsonSchema = Record<string, unknown>;

export interface OpenApiDocumentOptions extends RequestLimits {
  version: string;
  /** Adds the bearer scheme and requires it on every `/v1` route. */
  apiKeys?: boolean;
}

/**
 * `/v1/sessions/:sessionId/files/*` → `/v1/sessions/{session_id}/files/{path}`:
 * onyx's templates, whose names generated clients turn into their parameter names.
 */
export function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, (_, name: string) => `{${snakeCase(name)}}`).replace(/\*$/, "{path}");
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/**
 * The OpenAPI 3.1 document of the HTTP API, made from the same zod schemas
 * the routes validate with: request bodies as their input type (defaults
 * optional), responses as their output type.
 */
export function createOpenApiDocument(options: OpenApiDocumentOptions) {
  const named = namedSchemas(options);
  const names = new Map<z.ZodType, string>(Object.entries(named).map(([name, schema]) => [schema, name]));
  const components: Record<string, JsonSchema> = {};
  // Request schemas describe what a client may send; response schemas what it gets back.
  const reference = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
    const name = names.get(schema);
    if (name && !components[name]) components[name] = toJsonSchema(schema, io);
    return name ? { $ref: `#/components/schemas/${name}` } : toJsonSchema(schema, io);
  };
  for (const [name, schema] of Object.entries(named)) reference(schema, name.endsWith("Request") ? "input" : "output");

  const paths: Record<string, Record<string, unknown>> = {};
  const unauthorized = { description: "No API key, or not a valid one", schema: ErrorResponseSchema };
  for (const operation of apiOperations(options)) {
    const path = openApiPath(operation.path);
    const secured = options.apiKeys && operation.path.startsWith("/v1");
    const responses = secured ? { ...operation.responses, 401: unauthorized } : operation.responses;
    paths[path] ??= {};
    paths[path][operation.method] = {
      operationId: operation.operationId,
      summary: operation.summary,
      tags: [operation.tag],
      ...parameters(operation),
      ...requestBody(operation, reference),
      responses: Object.fromEntries(Object.entries(responses).map(([status, response]) => [status, responseObject(response, reference)])),
      ...(secured ? { security: [{ apiKey: [] }] } : {}),
    };
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "code-interpreter",
      version: options.version,
      description:
        "Runs untrusted Python (and bash in sessions) in isolated sandboxes. Compatible with the onyx code-interpreter API. " +
        'Errors are JSON `{"detail": "..."}`.',
      license: { name: "MIT", identifier: "MIT" },
    },
    tags: [
      { name: "execute", description: "One-shot executions, each in a fresh sandbox" },
      { name: "files", description: "The file store: inputs for executions and the files they produce" },
      { name: "sessions", description: "Sandboxes that persist between commands" },
      { name: "executions", description: "Background and resumable executions: status, answer, cancel, and their event streams" },
      { name: "health" },
      { name: "operations" },
    ],
    paths,
    components: {
      schemas: components,
      ...(options.apiKeys ? { securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "An API key" } } } : {}),
    },
  };
}

function toJsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: "draft-2020-12" }) as JsonSchema;
  return rest;
}

function parameters(operation: ApiOperation) {
  const names = [...operation.path.matchAll(/:(\w+)/g)].map((match) => snakeCase(match[1] as string));
  if (operation.path.endsWith("*")) names.push("path");
  const headers = Object.entries(operation.requestHeaders ?? {});
  if (names.length === 0 && headers.length === 0) return {};
  return {
    parameters: [
      ...names.map((name) => ({
        name,
        in: "path",
        required: true,
        schema: { type: "string" },
        ...(name === "path" ? { description: "Path relative to /workspace; may contain `/`" } : {}),
      })),
      ...headers.map(([name, description]) => ({ name, in: "header", required: false, description, schema: { type: "string" } })),
    ],
  };
}

function requestBody(operation: ApiOperation, reference: (schema: z.ZodType, io: "input") => JsonSchema) {
  if (!operation.body) return {};
  if (operation.body === "multipart") {
    return {
      requestBody: {
        required: true,
        content: {
          "multipart/form-data": {
            schema: {
              type: "object",
              properties: { file: { type: "string", contentMediaType: "application/octet-stream" } },
              required: ["file"],
            },
          },
        },
      },
    };
  }
  return {
    requestBody: {
      required: operation.bodyOptional !== true,
      content: {
        "application/json": { schema: reference(operation.body, "input"), ...(operation.example ? { example: operation.example } : {}) },
      },
    },
  };
}

function responseObject(response: ApiResponse, reference: (schema: z.ZodType, io: "output") => JsonSchema) {
  const mediaType = response.mediaType ?? (response.schema ? "application/json" : undefined);
  return {
    description: response.description,
    ...(response.headers
      ? {
          headers: Object.fromEntries(
            Object.entries(response.headers).map(([name, description]) => [name, { description, schema: { type: "string" } }]),
          ),
        }
      : {}),
    ...(mediaType ? { content: { [mediaType]: response.schema ? { schema: reference(response.schema, "output") } : {} } } : {}),
  };
}
