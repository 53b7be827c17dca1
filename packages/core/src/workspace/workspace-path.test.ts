import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../errors.js";
import { validateWorkspacePath } from "./workspace-path.js";

describe("validateWorkspacePath", () => {
  it("normalises safe relative paths", () => {
    expect(validateWorkspacePath("a.txt")).toBe("a.txt");
    expect(validateWorkspacePath("./dir//sub/./b.csv")).toBe("dir/sub/b.csv");
    expect(validateWorkspacePath("pkg/__main__.py")).toBe("pkg/__main__.py");
  });

  it.each([
    ["", "empty"],
    ["/etc/passwd", "relative"],
    ["../x", "'..'"],
    ["a/../../x", "'..'"],
    ["a\0b", "NUL"],
    ["__main__.py", "reserved"],
    ["./__main__.py", "reserved"],
    [".", "workspace itself"],
    [`${"n".repeat(256)}`, "255"],
  ])("rejects %j", (path, why) => {
    expect(() => validateWorkspacePath(path)).toThrow(why);
    expect(() => validateWorkspacePath(path)).toSatisfy(() => {
      try {
        validateWorkspacePath(path);
        return false;
      } catch (error) {
        return InvalidRequestError.isInstance(error);
      }
    });
  });
});

describe("validateWorkspacePath's onyx wording", () => {
  // onyx clients and tests match these sentences; ours follows them.
  it.each([
    ["/etc/passwd", "File paths must be relative. "],
    ["\\windows", "File paths must be relative. "],
    ["../escape.txt", "File paths must not contain '..'. "],
    ["a/../../x", "File paths must not contain '..'. "],
  ])("%j starts with upstream's sentence", (path, sentence) => {
    expect(() => validateWorkspacePath(path)).toThrow(new RegExp(`^${sentence.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}Invalid file path`));
  });
});
