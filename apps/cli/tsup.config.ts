import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/cli.ts"],
  format: ["esm"],
  // The CLI is a program, published as a bin only: no library entry, no declarations.
  dts: false,
  sourcemap: true,
  clean: true,
});
