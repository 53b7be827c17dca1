#!/usr/bin/env node
import { CodeInterpreterClientError, ConnectionError } from "@code-interpreter/client";
import { API_ERROR_EXIT } from "./output.js";
import { createProgram } from "./program.js";
import { palette } from "./style.js";

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  let message = CodeInterpreterClientError.isInstance(error) ? error.detail : (error as Error).message;
  if (ConnectionError.isInstance(error)) message += "; start it with: code-interpreter serve";
  process.stderr.write(`${palette(process.stderr).red("error:")} ${message}\n`);
  process.exit(API_ERROR_EXIT);
}
