export type {
  CapabilitiesResponse as Capabilities,
  CodeErrorJson as CodeError,
  ExecuteResponse,
  FileInput,
  FileMetadata,
  FileUploadResponse,
  HealthResponse,
  NetworkAttemptJson as NetworkAttempt,
  RichResultJson as RichResult,
  SandboxRuntime,
  SessionBashResponse,
  SessionCommandResponse,
  SessionDetail,
  SessionPythonResponse,
  SessionResponse,
  StreamDisplayEvent,
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
export type * from "./types.js";
