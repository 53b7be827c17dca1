import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "backend-kubernetes",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Real sandboxes start in seconds beside CI's other lane: a test without its own timeout gets this one, not
    // vitest's 5 s (a hidden timing assumption: OCI runtime's test failed so at CI's load).
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ["test/global-setup.ts"],
  },
});
