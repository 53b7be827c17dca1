import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/cli.ts", "src/index.ts"],
  format: ["esm"],
  // The CLI is a program: only its small API module needs declarations.
  dts: { entry: "src/index.ts" },
  sourcemap: true,
  clean: true,
  banner: { js: "" },
});
