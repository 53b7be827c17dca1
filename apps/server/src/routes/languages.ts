import { InvalidRequestError, LANGUAGES } from "@code-interpreter/core";
import type { ServerContext } from "../context.js";

/** A language the backend's sandbox lacks is refused (422) naming those it has. */
export function assertLanguage(server: ServerContext, language: string): void {
  const available = server.backend.capabilities.languages ?? LANGUAGES;
  if (!(available as readonly string[]).includes(language)) {
    throw new InvalidRequestError({
      message: `language ${JSON.stringify(language)} is not available on the ${server.backend.name} backend; it has: ${available.join(", ")}`,
    });
  }
}
