import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/mcp.ts", "src/egress/index.ts", "src/snapshots/index.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
});
