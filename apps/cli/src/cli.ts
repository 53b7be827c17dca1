#!/usr/bin/env node
import { ApiError } from "./http-client.js";
import { API_ERROR_EXIT } from "./output.js";
import { createProgram } from "./program.js";

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  const message = error instanceof ApiError ? error.detail : (error as Error).message;
  process.stderr.write(`error: ${message}\n`);
  process.exit(API_ERROR_EXIT);
}
