import { describe, expect, it, vi } from "vitest";
import { CodeInterpreterClientError, errorForResponse, NotFoundError, RateLimitedError } from "./errors.js";
import * as client from "./index.js";

const errorClasses = Object.values(client).filter(
  (value): value is typeof CodeInterpreterClientError =>
    typeof value === "function" && (value === CodeInterpreterClientError || value.prototype instanceof CodeInterpreterClientError),
);

describe("client errors", () => {
  it("each class declares its own code, which is its errors' name", () => {
    expect(errorClasses.length).toBe(6);
    for (const type of errorClasses) {
      expect(Object.hasOwn(type, "code"), type.code).toBe(true);
      expect(new type({ message: "x", status: 0 }).name).toBe(type.name);
    }
    expect(new Set(errorClasses.map((type) => type.code)).size).toBe(errorClasses.length);
  });

  it("are told apart by their code even when a minifier gives two classes one name", () => {
    const first = class extends NotFoundError {
      static override readonly code = "GoneError";
    };
    const second = class extends CodeInterpreterClientError {
      static override readonly code = "OtherError";
    };
    Object.defineProperty(first, "name", { value: "t" });
    Object.defineProperty(second, "name", { value: "t" });
    const error = new first({ message: "404: gone", status: 404 });
    expect(error.name).toBe("GoneError");
    expect(first.isInstance(error)).toBe(true);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect(second.isInstance(error)).toBe(false);
  });

  it("are recognised by another installed copy of the client", async () => {
    vi.resetModules();
    const copy = await import("./errors.js");
    const theirs = copy.errorForResponse(429, "busy", "3");
    expect(theirs).not.toBeInstanceOf(RateLimitedError);
    expect(RateLimitedError.isInstance(theirs)).toBe(true);
    expect(NotFoundError.isInstance(theirs)).toBe(false);
    expect(copy.NotFoundError.isInstance(errorForResponse(404, "gone", null))).toBe(true);
    expect(CodeInterpreterClientError.isInstance(Object.assign(new Error("x"), { name: "NotFoundError" }))).toBe(false);
  });
});
