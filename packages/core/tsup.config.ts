import { defineConfig } from "tsup";

export default defineConfig({
  // One entry per subpath export (package.json `exports`); each lands at dist/<folder>/index.js.
  entry: [
    "src/index.ts",
    "src/errors.ts", // dist/errors.js: the error families alone, for the client (imports nothing)
    "src/engine/index.ts",
    "src/policy/index.ts",
    "src/runner/index.ts",
    "src/sandbox/index.ts",
    "src/testing/index.ts",
    "src/workspace/index.ts",
  ],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  external: ["vitest"],
});
