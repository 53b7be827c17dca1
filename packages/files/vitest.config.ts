import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "files",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
  },
});
