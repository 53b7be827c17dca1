import { InvalidRequestError } from "../errors.js";

/** The file the submitted code is written to; staging may not overwrite it. */
export const MAIN_FILE = "__main__.py";

/**
 * Checks a path relative to `/workspace` and returns it normalised (no `./`
 * segments, no duplicate slashes). Throws InvalidRequestError for absolute
 * paths, `..`, empty paths, NUL bytes and the reserved `__main__.py`.
 */
export function validateWorkspacePath(path: string): string {
  const reject = (why: string, upstream?: string): never => {
    // onyx clients match its sentence, so it comes first when there is one.
    const detail = `Invalid file path ${JSON.stringify(path)}: ${why}`;
    throw new InvalidRequestError({ message: upstream ? `${upstream} ${detail}` : detail });
  };
  if (typeof path !== "string" || path.length === 0) reject("it is empty");
  if (path.includes("\0")) reject("it contains a NUL byte");
  if (path.startsWith("/") || path.startsWith("\\")) reject("it must be relative to /workspace", "File paths must be relative.");
  if (Buffer.byteLength(path) > 4096) reject("it is longer than 4096 bytes");
  const segments = path.split("/").filter((segment) => segment !== "" && segment !== ".");
  if (segments.length === 0) reject("it names the workspace itself");
  if (segments.includes("..")) reject("'..' is not allowed", "File paths must not contain '..'.");
  if (segments.some((segment) => Buffer.byteLength(segment) > 255)) reject("a name is longer than 255 bytes");
  const normalised = segments.join("/");
  if (normalised === MAIN_FILE) reject(`${MAIN_FILE} is reserved for the submitted code`);
  return normalised;
}
