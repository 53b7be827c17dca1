import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "kubernetes-double",
    include: ["src/**/*.test.ts"],
  },
});
