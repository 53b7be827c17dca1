import { defineConfig } from "tsup";

export default defineConfig({
  // main.ts is the program (`code-interpreter-server`, the image's command); only the library entry has declarations.
  entry: ["src/index.ts", "src/main.ts"],
  format: ["esm"],
  dts: { entry: "src/index.ts" },
  sourcemap: true,
  clean: true,
});
