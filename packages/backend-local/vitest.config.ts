import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "backend-local",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
  },
});
