import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/testing/index.ts", "src/bwrap.ts", "src/runsc.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
});
