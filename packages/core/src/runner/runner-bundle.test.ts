import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { bundleRunner, RUNNER_BUNDLE_PATH } from "../../scripts/bundle-runner.js";

/** Linux's MAX_ARG_STRLEN: one argv string (the runner goes as `python3 -c <source>`), its NUL included. */
const MAX_ARG_STRLEN = 131072;

describe("the runner's bundle", () => {
  it("is what its Python package makes, byte for byte (regenerate: pnpm --filter @code-interpreter/core run bundle:runner)", () => {
    expect(readFileSync(RUNNER_BUNDLE_PATH, "utf8")).toBe(bundleRunner());
  });

  it("fits one command-line argument", () => {
    expect(Buffer.byteLength(bundleRunner(), "utf8") + 1).toBeLessThanOrEqual(MAX_ARG_STRLEN);
  });
});
