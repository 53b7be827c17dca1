import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "core",
    include: ["src/**/*.test.ts"],
    // Many tests start real Python runners and kernels: seconds each on a loaded two-core machine, not 5 s at most.
    testTimeout: 60_000,
  },
});
