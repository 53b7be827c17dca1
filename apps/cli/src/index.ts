export { ApiError, type ExecuteBody, HttpClient, type StreamEvent } from "./http-client.js";
export { createProgram } from "./program.js";
