import { describe, expect, it, vi } from "vitest";
import * as engine from "./engine/index.js";
import * as core from "./index.js";
import {
  BackendUnavailableError,
  CodeInterpreterError,
  FileNotFoundError,
  InvalidRequestError,
  NotSupportedError,
  PayloadTooLargeError,
  SessionNotFoundError,
  TooManyRequestsError,
} from "./index.js";
import * as policy from "./policy/index.js";
import * as runner from "./runner/index.js";
import * as sandbox from "./sandbox/index.js";
import * as workspace from "./workspace/index.js";

/** Every error class the package exports, from its root and its subpaths. */
const errorClasses = [...new Set([core, engine, policy, runner, sandbox, workspace].flatMap((entry) => Object.values(entry)))].filter(
  (value): value is typeof CodeInterpreterError =>
    typeof value === "function" && (value === CodeInterpreterError || value.prototype instanceof CodeInterpreterError),
);

describe("error classes", () => {
  it("each declares its own code, and no two share one", () => {
    expect(errorClasses.length).toBeGreaterThanOrEqual(9);
    for (const type of errorClasses) expect(Object.hasOwn(type, "code"), type.code).toBe(true);
    expect(new Set(errorClasses.map((type) => type.code)).size).toBe(errorClasses.length);
  });

  it("keep the names users log", () => {
    expect(new SessionNotFoundError({ message: "gone" }).name).toBe("SessionNotFoundError");
    expect(new TooManyRequestsError({ message: "busy" }).name).toBe("TooManyRequestsError");
    expect(new CodeInterpreterError({ message: "plain" }).name).toBe("CodeInterpreterError");
    for (const type of errorClasses) expect(new type({ message: "x" }).name).toBe(type.name);
  });

  it("tell each other apart with isInstance", () => {
    const error = new FileNotFoundError({ message: "no such file", cause: new Error("ENOENT") });
    expect(FileNotFoundError.isInstance(error)).toBe(true);
    expect(CodeInterpreterError.isInstance(error)).toBe(true);
    for (const type of [SessionNotFoundError, NotSupportedError, InvalidRequestError, PayloadTooLargeError, BackendUnavailableError]) {
      expect(type.isInstance(error), type.code).toBe(false);
    }
    expect(error.cause).toBeInstanceOf(Error);
    expect(new TooManyRequestsError({ message: "busy", retryAfterSeconds: 5 }).retryAfterSeconds).toBe(5);
  });

  it("do not take other errors for theirs", () => {
    for (const value of [new Error("x"), new TypeError("x"), { name: "SessionNotFoundError" }, null, undefined, "SessionNotFoundError"]) {
      expect(CodeInterpreterError.isInstance(value)).toBe(false);
      expect(SessionNotFoundError.isInstance(value)).toBe(false);
    }
    // A plain error renamed to look like one is still not one.
    const impostor = Object.assign(new Error("x"), { name: "SessionNotFoundError" });
    expect(SessionNotFoundError.isInstance(impostor)).toBe(false);
  });

  it("hold for a subclass's errors under its parent's isInstance", () => {
    class SandboxGoneError extends SessionNotFoundError {
      static override readonly code = "SandboxGoneError";
    }
    const error = new SandboxGoneError({ message: "its sandbox went away" });
    expect(error.name).toBe("SandboxGoneError");
    expect(SandboxGoneError.isInstance(error)).toBe(true);
    expect(SessionNotFoundError.isInstance(error)).toBe(true);
    expect(SandboxGoneError.isInstance(new SessionNotFoundError({ message: "x" }))).toBe(false);
  });

  it("survive minification: the code decides, not the constructor's name", () => {
    // A minifier renames classes, often to the same short name in different modules.
    const first = class extends CodeInterpreterError {
      static override readonly code = "FirstError";
    };
    const second = class extends CodeInterpreterError {
      static override readonly code = "SecondError";
    };
    Object.defineProperty(first, "name", { value: "e" });
    Object.defineProperty(second, "name", { value: "e" });
    const error = new first({ message: "x" });
    expect(error.name).toBe("FirstError");
    expect(first.isInstance(error)).toBe(true);
    expect(second.isInstance(error)).toBe(false);
    expect(CodeInterpreterError.isInstance(error)).toBe(true);
  });

  it("are recognised by another installed copy of core", async () => {
    // A second evaluation of the module: its classes are distinct objects, as in a second copy on disk.
    vi.resetModules();
    const copy = await import("./errors.js");
    expect(copy.SessionNotFoundError).not.toBe(SessionNotFoundError);
    const theirs = new copy.SessionNotFoundError({ message: "x" });
    expect(theirs).not.toBeInstanceOf(SessionNotFoundError);
    expect(SessionNotFoundError.isInstance(theirs)).toBe(true);
    expect(CodeInterpreterError.isInstance(theirs)).toBe(true);
    expect(FileNotFoundError.isInstance(theirs)).toBe(false);
    expect(copy.SessionNotFoundError.isInstance(new SessionNotFoundError({ message: "x" }))).toBe(true);
    expect(copy.TooManyRequestsError.isInstance(new SessionNotFoundError({ message: "x" }))).toBe(false);
  });
});
