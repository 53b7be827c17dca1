export type {
  ExecuteResponse,
  FileInput,
  FileMetadata,
  FileUploadResponse,
  HealthResponse,
  SessionCommandResponse,
  SessionPythonResponse,
  SessionResponse,
  StreamErrorEvent,
  StreamOutputEvent,
  StreamResultEvent,
  WorkspaceFile,
} from "@code-interpreter/core";
export { type ClientOptions, CodeInterpreterClient, createCodeInterpreterClient, DEFAULT_TIMEOUT_MS } from "./client.js";
export {
  CodeInterpreterClientError,
  ConnectionError,
  InvalidRequestError,
  NotFoundError,
  RateLimitedError,
  TimeoutError,
} from "./errors.js";
export type {
  BashRequest,
  CallOptions,
  CreateSessionRequest,
  DownloadedFile,
  ExecuteRequest,
  KeepaliveRequest,
  PythonRequest,
  SessionFile,
  StreamEvent,
  UploadOptions,
} from "./types.js";
