import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/mcp.ts", "src/egress/index.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
});
